"""Text keys become key values in one place (``source.parser_of``), for reads and writes alike.

A key travels as the reader's text of its value (``reader.key_text``). Date-time, date, time and
boolean key columns are compared with values (their SQLAlchemy types insist on them), so the
writer updates and deletes rows by such keys as the reader reads them, and returns the key of a
row it creates in that same text: the text the change log holds for the row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from keydb import KeyDb, open_key_db
from sqlerp import changes_after, collect

from tandem.connectors.base import EntityBinding, WriteOp, WriteOutcome
from tandem.connectors.sql import SqlConnector, SqlSettings, install_capture
from tandem.connectors.sql.reader import key_text
from tandem.connectors.sql.source import parser_of, resolve
from tandem.connectors.sql.writer import write_ops

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb
INDIA = timezone(timedelta(hours=5, minutes=30))


# -- the parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5),
        datetime(2026, 1, 2, 3, 4, 5, 250000),
        datetime(2026, 1, 2, 8, 34, 5, 1, tzinfo=INDIA),
        datetime(1890, 1, 1, 12, 0, tzinfo=UTC),
        date(2026, 1, 2),
        date(99, 12, 31),
        time(3, 4, 5),
        time(23, 59, 59, 999999),
        True,
        False,
        Decimal("1E-8"),
        Decimal("-0.00000050"),
        12,
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "AB  ",
    ],
    ids=repr,
)
def test_the_readers_text_of_a_key_parses_back_to_its_value(value: Any) -> None:
    parsed = parser_of(type(value))(key_text(value))
    assert type(parsed) is type(value) and parsed == value


@pytest.mark.parametrize(
    ("python_type", "text"),
    [(bool, "true"), (bool, "1"), (datetime, "yesterday"), (date, "2026-02-30"), (time, "25:00")],
)
def test_a_key_text_that_is_no_value_of_the_type_is_refused(python_type: type, text: str) -> None:
    with pytest.raises(ValueError):
        parser_of(python_type)(text)


def test_a_sources_key_values_are_values_of_its_key_column(tmp_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/k.db")
    md = sa.MetaData()
    sa.Table("d", md, sa.Column("k", sa.Date, primary_key=True))
    sa.Table("b", md, sa.Column("k", sa.Boolean, primary_key=True))
    sa.Table("t", md, sa.Column("k", sa.DateTime, primary_key=True))
    md.create_all(engine)
    try:
        with engine.connect() as conn:
            src = {n: resolve(conn, EntityBinding(n, n, "k", ()), None) for n in "dbt"}
    finally:
        engine.dispose()
    assert src["d"].key_values(["2026-01-02", "soon"]) == [date(2026, 1, 2)]
    assert src["b"].key_values(["True", "False", "yes"]) == [True, False]
    assert src["t"].key_values(["2026-01-02 03:04:05.250000"]) == [
        datetime(2026, 1, 2, 3, 4, 5, 250000)
    ]
    assert src["b"].parse_key("False") is False


# -- writes by such keys, on SQLite -------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [(sa.Boolean, True), (sa.Date, date(2026, 1, 2)), (sa.Time, time(3, 4, 5, 250000))],
    ids=["boolean", "date", "time"],
)
async def test_rows_are_updated_and_deleted_by_such_keys_on_sqlite(
    tmp_path: Any, column: type[sa.types.TypeEngine[Any]], value: Any
) -> None:
    url = f"sqlite:///{tmp_path}/erp.db"
    engine = sa.create_engine(url)
    table = sa.Table(
        "things",
        sa.MetaData(),
        sa.Column("k", column, primary_key=True),
        sa.Column("name", sa.String(20)),
        sa.Column("crm_id", sa.String(18), unique=True),
    )
    table.create(engine)
    engine.dispose()
    conn = SqlConnector(SqlSettings(url=url, capture="modified_column"))
    await conn.open()
    try:
        binding = EntityBinding("thing", "things", "k", ("name",), external_id="crm_id")
        created = await _write(conn, binding, "upsert", match="001A", k=value, name="a")
        assert created.created and created.key == key_text(value)
        (live,) = [c for batch in await collect(conn.read_all(binding, 10)) for c in batch]
        assert live.key == created.key
        await _write(conn, binding, "update", key=created.key, name="b")
        assert (await conn.read_records(binding, [created.key]))[created.key].fields["name"] == "b"
        await _write(conn, binding, "delete", key=created.key)
        assert await conn.read_records(binding, [created.key]) == {}
    finally:
        await conn.close()


async def _write(
    conn: SqlConnector,
    binding: EntityBinding,
    action: str,
    *,
    key: str | None = None,
    match: str | None = None,
    **values: Any,
) -> WriteOutcome:
    op = WriteOp(action=action, ref="r1", values=values, key=key, match=match)  # type: ignore[arg-type]
    (out,) = await conn.write_batch(binding, [op])
    assert out.ok, out.error
    return out


# -- writes by such keys on the servers, and the change log's text of them ---------------------


@pytest.fixture
def db(db_url: str) -> Iterator[KeyDb]:
    with open_key_db(db_url) as db:
        yield db


def _rows(db: KeyDb, table: str) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT k, name FROM {table}")]


AT = datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=UTC)
"""A contract date-time (aware UTC); written to a column without a zone as wall time."""

KEYS = [
    pytest.param("postgresql", "BOOLEAN", True, "True", {}, marks=PG, id="pg-boolean"),
    pytest.param(
        "postgresql", "TIMESTAMP(6)", AT, "2026-01-02 03:04:05.250000", {}, marks=PG, id="pg-ts"
    ),
    pytest.param(
        "postgresql",
        "TIMESTAMP(6)",
        AT,
        "2026-01-02 04:04:05.250000",
        {"time_zone": "Europe/Warsaw"},
        marks=PG,
        id="pg-ts-warsaw",
    ),
    pytest.param(
        "postgresql",
        "TIMESTAMPTZ",
        datetime(2026, 1, 2, 8, 34, 5, tzinfo=INDIA),
        "2026-01-02 03:04:05+00:00",
        {},
        marks=PG,
        id="pg-timestamptz",
    ),
    pytest.param(
        "postgresql",
        "NUMERIC(20, 8)",
        Decimal("0.00000001"),
        "0.00000001",
        {},
        marks=PG,
        id="pg-tiny-numeric",
    ),
    pytest.param(
        "postgresql", "NUMERIC(20, 8)", Decimal("12.5"), "12.50000000", {}, marks=PG, id="pg-scale"
    ),
    pytest.param("postgresql", "DATE", date(2026, 1, 2), "2026-01-02", {}, marks=PG, id="pg-date"),
    pytest.param(
        "postgresql", "TIME(6)", time(3, 4, 5, 250000), "03:04:05.250000", {}, marks=PG, id="pg-t"
    ),
    pytest.param(
        "mysql", "DATETIME(6)", AT, "2026-01-02 03:04:05.250000", {}, marks=MARIADB, id="mdb-dt"
    ),
    pytest.param(
        "mysql",
        "DATETIME(6)",
        AT,
        "2026-01-02 04:04:05.250000",
        {"time_zone": "Europe/Warsaw"},
        marks=MARIADB,
        id="mdb-dt-warsaw",
    ),
    pytest.param(
        "mysql",
        "TIMESTAMP(6)",
        datetime(2026, 1, 2, 8, 34, 5, 500000, tzinfo=INDIA),
        "2026-01-02 03:04:05.500000",
        {"time_zone": "Europe/Warsaw"},  # an instant: UTC, whatever the zone of wall times
        marks=MARIADB,
        id="mdb-timestamp",
    ),
    pytest.param(
        "mysql",
        "DECIMAL(20, 8)",
        Decimal("0.00000001"),
        "0.00000001",
        {},
        marks=MARIADB,
        id="mdb-tiny-decimal",
    ),
    pytest.param(
        "mysql", "DECIMAL(20, 8)", Decimal("12.5"), "12.50000000", {}, marks=MARIADB, id="mdb-sc"
    ),
    pytest.param("mysql", "DATE", date(2026, 1, 2), "2026-01-02", {}, marks=MARIADB, id="mdb-d"),
]


@pytest.mark.parametrize(
    ("db_url", "key_type", "value", "text", "settings"), KEYS, indirect=["db_url"]
)
async def test_a_row_is_created_updated_and_deleted_by_its_key_as_the_change_log_names_it(
    db: KeyDb, key_type: str, value: Any, text: str, settings: dict[str, Any]
) -> None:
    t = f"kv_{db.suffix}"
    db.run(
        f"CREATE TABLE {t} (k {key_type} NOT NULL PRIMARY KEY, name VARCHAR(20), "
        "crm_id VARCHAR(18) UNIQUE)"
    )
    install_capture(db.engine, [(t, "k")], changelog_table=db.changelog)
    conn = db.connector(**settings)
    await conn.open()
    try:
        binding = EntityBinding("row", t, "k", ("name",), external_id="crm_id")
        created = await _write(conn, binding, "upsert", match="001A", k=value, name="a")
        assert created.created
        assert created.key == text
        assert db.log(t) == [(text, "I")]  # the key returned is the key the change log holds
        (seen,) = await changes_after(conn, binding, None)
        assert (seen.key, seen.fields) == (text, {"name": "a", "crm_id": "001A"})

        again = await _write(conn, binding, "upsert", match="001A", name="a2")
        assert (again.key, again.created) == (text, False)
        await _write(conn, binding, "update", key=created.key, name="b")
        assert _rows(db, t)[0][1] == "b"
        record = (await conn.read_records(binding, [text]))[text]
        assert record.fields["name"] == "b"
        await _write(conn, binding, "delete", key=created.key)
        assert _rows(db, t) == []
        assert db.log(t) == [(text, "I"), (text, "U"), (text, "U"), (text, "D")]
        (gone,) = await changes_after(conn, binding, seen.cursor)
        assert (gone.key, gone.deleted) == (text, True)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("db_url", "key_type", "value", "text"),
    [
        pytest.param("postgresql", "BOOLEAN", "true", "True", marks=PG, id="pg-boolean"),
        pytest.param(
            "postgresql",
            "TIMESTAMPTZ",
            "'2026-01-02 08:34:05+05:30'",
            "2026-01-02 03:04:05+00:00",
            marks=PG,
            id="pg-timestamptz",
        ),
        pytest.param(
            "mysql",
            "DATETIME(6)",
            "'2026-01-02 03:04:05.25'",
            "2026-01-02 03:04:05.250000",
            marks=MARIADB,
            id="mdb-datetime",
        ),
    ],
    indirect=["db_url"],
)
async def test_a_query_written_through_its_write_table_is_read_and_written_by_such_keys(
    db: KeyDb, key_type: str, value: str, text: str
) -> None:
    """A query's key column has no type of its own: its keys parse as the write table's."""
    t = f"qk_{db.suffix}"
    db.run(
        f"CREATE TABLE {t} (k {key_type} NOT NULL PRIMARY KEY, name TEXT)",
        f"INSERT INTO {t} (k, name) VALUES ({value}, 'a')",
    )
    conn = SqlConnector(SqlSettings(url=db.url, capture="modified_column"))
    await conn.open()
    try:
        options = {"query": f"SELECT k, name FROM {t}", "write_table": t}
        binding = EntityBinding("row", t, "k", ("name",), options=options)
        assert list(await conn.read_records(binding, [text])) == [text]
        await _write(conn, binding, "update", key=text, name="b")
        assert (await conn.read_records(binding, [text]))[text].fields == {"name": "b"}
        await _write(conn, binding, "delete", key=text)
        assert _rows(db, t) == []
    finally:
        await conn.close()


# -- the key of a created row is the binding's key column --------------------------------------


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "no-returning"])
def test_the_key_of_a_created_row_is_its_key_columns_value(tmp_path: Any, returning: bool) -> None:
    """Also where the key column is not the primary key, and where the database has no
    ``INSERT ... RETURNING`` (MySQL, MariaDB before 10.5): then the value written, else the
    generated primary key."""
    engine = sa.create_engine(f"sqlite:///{tmp_path}/erp.db")
    md = sa.MetaData()
    sa.Table(
        "coded",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(10), nullable=False, unique=True),
        sa.Column("crm_id", sa.String(18), unique=True),
    )
    sa.Table(
        "counted",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("crm_id", sa.String(18), unique=True),
    )
    md.create_all(engine)
    engine.dialect.insert_returning = returning
    try:
        with engine.begin() as conn:
            coded = resolve(conn, EntityBinding("c", "coded", "code", (), "crm_id"), None)
            counted = resolve(conn, EntityBinding("n", "counted", "id", (), "crm_id"), None)
            conn.execute(sa.insert(counted.relation).values(crm_id="old"))  # id 1 is taken
            ops = [WriteOp(action="upsert", ref="r", values={"code": "C-7"}, match="001A")]
            (by_code,) = write_ops(conn, coded, ops)
            ops = [WriteOp(action="upsert", ref="r", values={}, match="001B")]
            (by_id,) = write_ops(conn, counted, ops)
    finally:
        engine.dispose()
    assert (by_code.key, by_code.created) == ("C-7", True)
    assert (by_id.key, by_id.created) == ("2", True)
