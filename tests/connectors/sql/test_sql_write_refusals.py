"""Refused records name their field and value, whatever constraint or type refused them.

Every case here was run against real SQLite, PostgreSQL and MariaDB: before the fix the
databases' refusals of a number out of range, a CHECK constraint, a value of the wrong type
and (MariaDB) an emoji in a 3-byte ``utf8`` column came back with no field at all, so a dead
letter could not say which value to fix.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from tandem.connectors.base import EntityBinding, WriteOp
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine

SERVERS = pytest.mark.parametrize(  # SQLite keeps any value in any column
    "db_url",
    [
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ],
    indirect=True,
)
MARIADB = pytest.mark.parametrize(  # the one with 3-byte text columns
    "db_url", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)


@pytest.fixture
async def priced(db_url: str) -> AsyncIterator[tuple[SqlConnector, EntityBinding, sa.Engine]]:
    """A connector over a table with checks, ranges, a 3-byte text column (MariaDB) and a
    NOT NULL column without default; its binding and an engine to look with."""
    suffix = uuid.uuid4().hex[:8]
    engine = create_engine(SqlSettings(url=db_url))
    dialect = engine.dialect.name
    auto = {
        "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "postgresql": "SERIAL PRIMARY KEY",
        "mysql": "INT AUTO_INCREMENT PRIMARY KEY",
    }[dialect]
    narrow = "VARCHAR(10) CHARACTER SET utf8mb3" if dialect == "mysql" else "VARCHAR(10)"
    table = f"priced_{suffix}"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {table} (id {auto}, crm_id VARCHAR(18) UNIQUE, "
            "amount NUMERIC(5, 2), qty INTEGER, small SMALLINT, "
            f"label {narrow}, price NUMERIC(8, 2) CHECK (price >= 0), "
            "code VARCHAR(10) NOT NULL DEFAULT 'x', "
            f"CONSTRAINT ck_qty_{suffix} CHECK (qty < 100))"
        )
    connector = SqlConnector(SqlSettings(url=db_url))
    await connector.open()
    binding = EntityBinding(
        name="item",
        source=table,
        key="id",
        fields=("amount", "qty", "small", "label", "price", "code"),
        external_id="crm_id",
    )
    try:
        yield connector, binding, engine
    finally:
        await connector.close()
        engine.dispose()


def _upsert(ref: str, **values: Any) -> WriteOp:
    return WriteOp(action="upsert", ref=ref, values=values, match=ref)


async def _refusal(
    priced: tuple[SqlConnector, EntityBinding, sa.Engine], ref: str, **values: Any
) -> tuple[str | None, Any]:
    connector, binding, engine = priced
    good = _upsert(f"good-{ref}", qty=1)
    outcomes = await connector.write_batch(binding, [good, _upsert(ref, **values)])
    assert outcomes[0].ok, outcomes[0].error
    error = outcomes[1].error
    assert not outcomes[1].ok and error is not None, f"{values} was written"
    assert error.record == ref
    with engine.connect() as conn:
        table = sa.table(binding.source, sa.column("crm_id"))
        held = conn.execute(sa.select(table.c.crm_id).order_by(table.c.crm_id)).scalars().all()
    assert held.count(f"good-{ref}") == 1 and ref not in held  # good once, bad not at all
    if error.field is not None:
        assert f"field {error.field}" in str(error)
    return error.field, error.value


async def test_a_check_constraint_on_a_column_names_it(
    priced: tuple[SqlConnector, EntityBinding, sa.Engine],
) -> None:
    assert await _refusal(priced, "neg", qty=5, price=Decimal("-1")) == ("price", Decimal("-1"))


async def test_a_named_check_constraint_names_the_column_it_checks(
    priced: tuple[SqlConnector, EntityBinding, sa.Engine],
) -> None:
    assert await _refusal(priced, "many", qty=500, price=Decimal("2")) == ("qty", 500)


@SERVERS
async def test_a_number_out_of_the_columns_range_is_named(
    priced: tuple[SqlConnector, EntityBinding, sa.Engine],
) -> None:
    assert await _refusal(priced, "big", qty=1, amount=Decimal("12345")) == (
        "amount",
        Decimal("12345"),
    )
    assert await _refusal(priced, "huge", qty=1, small=70000) == ("small", 70000)


@SERVERS
async def test_a_value_of_the_wrong_type_is_named(
    priced: tuple[SqlConnector, EntityBinding, sa.Engine],
) -> None:
    assert await _refusal(priced, "word", qty=1, small="abc") == ("small", "abc")


@MARIADB
async def test_an_emoji_in_a_three_byte_column_is_named(
    priced: tuple[SqlConnector, EntityBinding, sa.Engine],
) -> None:
    assert await _refusal(priced, "smile", qty=1, label="ok \U0001f600") == (
        "label",
        "ok \U0001f600",
    )


async def test_a_null_for_a_not_null_column_is_named_not_a_check(
    priced: tuple[SqlConnector, EntityBinding, sa.Engine],
) -> None:
    assert await _refusal(priced, "nocode", qty=1, code=None) == ("code", None)
