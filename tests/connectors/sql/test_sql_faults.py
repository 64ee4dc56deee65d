"""Error translation: whole-batch failures raise, the registry factory validates settings."""

from __future__ import annotations

import pymysql  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from sqlerp import Erp, customer

from tandem.connectors.base import Connector, WriteOp
from tandem.connectors.sql import SqlConnector, create_connector
from tandem.connectors.sql.faults import classify, field_of
from tandem.errors import ConfigError, Retriable


async def test_a_locked_row_fails_the_batch_as_retriable_and_commits_nothing(erp: Erp) -> None:
    (key,) = erp.insert(customer("Locked"))
    erp.install()
    conn = SqlConnector(erp.settings(lock_timeout=0.2))
    await conn.open()
    holder = erp.engine.connect()
    try:
        tx = holder.begin()
        t = erp.customers
        holder.execute(sa.update(t).where(t.c.id == key).values(name="Held"))
        ops = [
            WriteOp(action="upsert", ref="new", values={"name": "New"}, match="N1"),
            WriteOp(action="update", ref="held", key=str(key), values={"name": "Mine"}),
        ]
        with pytest.raises(Retriable) as info:
            await conn.write_batch(erp.binding(), ops)
        assert info.value.system == "erp"
        tx.rollback()
    finally:
        holder.close()
        await conn.close()
    assert [r["name"] for r in erp.rows()] == ["Locked"]  # the first op was rolled back too


def test_mysql_error_numbers_map_to_actions() -> None:
    def dbapi(errno: int, cls: type[Exception] = pymysql.err.OperationalError) -> Exception:
        return sa.exc.DBAPIError("stmt", {}, cls(errno, "message"))

    assert classify(dbapi(1213)) == "retriable"  # deadlock
    assert classify(dbapi(1205)) == "retriable"  # lock wait timeout
    assert classify(dbapi(2013)) == "retriable"  # lost connection
    assert classify(dbapi(1045)) == "fatal"  # access denied
    assert classify(dbapi(1366)) == "record"  # incorrect value (an OperationalError in PyMySQL)
    assert classify(dbapi(1406, pymysql.err.DataError)) == "record"  # too long


def test_the_registry_factory_builds_and_validates() -> None:
    conn = create_connector({"url": "sqlite://", "schema": None, "capture": "modified_column"})
    assert isinstance(conn, Connector) and conn.system == "sql"
    with pytest.raises(ConfigError) as info:
        create_connector({"url": "sqlite://", "capture": "psychic"})
    assert info.value.field == "capture"


def test_public_api_is_small_and_sorted() -> None:
    import tandem.connectors.sql as package

    assert package.__all__ == sorted(package.__all__)
    assert all(hasattr(package, name) for name in package.__all__)


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("NOT NULL constraint failed: customers_ab.name", "name"),
        ("UNIQUE constraint failed: customers_ab.crm_id", "crm_id"),
        ("(1048) Column 'name' cannot be null", "name"),
        ("(1406) Data too long for column 'country_code' at row 1", "country_code"),
        (
            "insert or update violates foreign key DETAIL: Key (customer_id)=(9) is not present",
            "customer_id",
        ),
        ("(1062) Duplicate entry '001X' for key 'crm_id'", "crm_id"),
        ("(1062) Duplicate entry '001X' for key 'uq_unknown'", None),
    ],
)
def test_the_blamed_column_is_read_from_the_message(message: str, field: str | None) -> None:
    values = {"name": None, "crm_id": "001X", "country_code": "POL", "customer_id": 9}
    assert field_of(ValueError(message), message, values) == field


@pytest.mark.postgres
@pytest.mark.parametrize(
    "setting",
    [{"sslmode": "bogus"}, {"channel_binding": "bogus"}, {"target_session_attrs": "x"}],
)
def test_a_wrong_postgresql_connection_setting_is_fatal_not_retried(
    pg_url: str, setting: dict[str, str]
) -> None:
    # libpq refuses such a setting with no SQLSTATE and an OperationalError, as it does a
    # server that is down: retried, `tandem run` would back off on it forever.
    url = sa.make_url(pg_url).update_query_dict(setting)
    engine = sa.create_engine(url)
    try:
        with pytest.raises(sa.exc.OperationalError) as caught:
            engine.connect()
    finally:
        engine.dispose()
    assert classify(caught.value) == "fatal"
