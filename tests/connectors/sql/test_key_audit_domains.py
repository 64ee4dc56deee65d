"""PostgreSQL domains as key (and other) columns: everything sees through to the base type.

A column of ``CREATE DOMAIN erp_code AS text`` holds text: the driver reads it as text, the
database compares it as text. So install-capture accepts or refuses it as it would the base
type, the triggers log the reader's text of its values, and the reader, describe and the writer
(keys bound as values of the base type; a ``timestamptz`` domain's values as instants) treat it
as a column of the base type.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from keydb import KeyDb, open_key_db, writer_not_in_utc
from sqlerp import changes_after, collect

from tandem.connectors.base import EntityBinding, WriteOp, WriteOutcome
from tandem.connectors.sql import SqlConnector, capture_status, install_capture
from tandem.errors import ConfigError

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_url: str) -> Iterator[KeyDb]:
    with open_key_db(pg_url, writer_not_in_utc(pg_url)) as pg:
        yield pg


async def _write(conn: SqlConnector, binding: EntityBinding, **op: Any) -> WriteOutcome:
    (out,) = await conn.write_batch(binding, [WriteOp(ref="r1", **op)])
    assert out.ok, out.error
    return out


# (base type, two key literals written at +05:30, their reader's text, a value to create)
DOMAIN_KEYS = [
    pytest.param("text", "'abc'", "'abd'", "abc", "abd", "new", id="text"),
    pytest.param("char(6)", "'ab'", "'cd'", "ab    ", "cd    ", "ef", id="char"),
    pytest.param("integer", "5", "6", "5", "6", 7, id="integer"),
    pytest.param("numeric(10,2)", "3.5", "4", "3.50", "4.00", Decimal("5.5"), id="numeric"),
    pytest.param(
        "timestamp(6)",
        "'2026-01-02 03:04:05.25'",
        "'2026-01-02 03:04:06'",
        "2026-01-02 03:04:05.250000",
        "2026-01-02 03:04:06",
        datetime(2026, 1, 3, tzinfo=UTC),
        id="timestamp",
    ),
    pytest.param(
        "timestamptz",
        "'2026-01-02 08:34:05.5+05:30'",
        "'2026-01-02 03:04:06+00'",
        "2026-01-02 03:04:05.500000+00:00",
        "2026-01-02 03:04:06+00:00",
        datetime(2026, 1, 3, tzinfo=UTC),
        id="timestamptz",
    ),
    pytest.param("boolean", "true", "false", "True", "False", None, id="boolean"),
    pytest.param("date", "'2026-01-02'", "'2026-01-03'", "2026-01-02", "2026-01-03", None, id="d"),
    pytest.param(
        "time(6)", "'03:04:05.25'", "'03:04:06'", "03:04:05.250000", "03:04:06", None, id="time"
    ),
    pytest.param(
        "uuid",
        "'12345678-1234-5678-1234-567812345678'",
        "'12345678-1234-5678-1234-567812345679'",
        "12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-567812345679",
        None,
        id="uuid",
    ),
]


@pytest.mark.parametrize(("base", "a", "b", "a_text", "b_text", "created"), DOMAIN_KEYS)
async def test_a_domain_key_is_captured_read_and_written_as_its_base_type(
    pg: KeyDb, base: str, a: str, b: str, a_text: str, b_text: str, created: Any
) -> None:
    dom, t = pg.name("dom"), pg.name("dk")
    pg.run(
        f"CREATE DOMAIN {dom} AS {base}",
        f"CREATE TABLE {t} (k {dom} PRIMARY KEY, name TEXT, crm_id VARCHAR(18) UNIQUE)",
        f"INSERT INTO {t} (k, name) VALUES ({a}, 'a')",
    )
    install_capture(pg.writer, [(t, "k")], changelog_table=pg.changelog)
    pg.run(
        f"UPDATE {t} SET name = 'a2' WHERE k = {a}",
        f"INSERT INTO {t} (k, name) VALUES ({b}, 'b')",
        f"DELETE FROM {t} WHERE k = {b}",
        engine=pg.writer,
    )
    assert pg.log(t) == [(a_text, "I"), (a_text, "U"), (b_text, "I"), (b_text, "D")]
    conn = pg.connector()
    await conn.open()
    try:
        binding = EntityBinding("row", t, "k", ("name",), external_id="crm_id")
        changes = await changes_after(conn, binding, None)
        assert [(c.key, c.deleted, c.fields.get("name")) for c in changes] == [
            (a_text, False, "a2"),
            (b_text, True, None),
        ]
        live = [c.key for batch in await collect(conn.read_all(binding, 10)) for c in batch]
        assert live == [a_text]
        assert list(await conn.read_records(binding, [a_text])) == [a_text]

        # writes by key bind the key as a value of the base type
        await _write(conn, binding, action="update", key=a_text, values={"name": "w"})
        assert (await conn.read_records(binding, [a_text]))[a_text].fields["name"] == "w"
        await _write(conn, binding, action="delete", key=a_text)
        assert await conn.read_records(binding, [a_text]) == {}
        assert pg.log(t)[-2:] == [(a_text, "U"), (a_text, "D")]
        if created is not None:
            out = await _write(
                conn, binding, action="upsert", match="001A", values={"k": created, "name": "c"}
            )
            assert out.created and pg.log(t)[-1] == (out.key, "I")
            assert list(await conn.read_records(binding, [out.key])) == [out.key]
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("base", "why"),
    [
        ("double precision", "floating-point"),
        ("real", "floating-point"),
        ("bytea", "no text"),
        ("jsonb", "no text"),
        ("interval", "no text"),
    ],
)
def test_a_domain_over_a_type_without_exact_text_is_refused_naming_domain_and_base(
    pg: KeyDb, base: str, why: str
) -> None:
    inner, outer, t = pg.name("din"), pg.name("dout"), pg.name("bad")
    pg.run(
        f"CREATE DOMAIN {inner} AS {base}",
        f"CREATE DOMAIN {outer} AS {inner}",  # a domain over a domain: the same
        f"CREATE TABLE {t} (k {outer} NOT NULL PRIMARY KEY, name TEXT)",
    )
    with pytest.raises(ConfigError, match=why) as info:
        install_capture(pg.engine, [(t, "k")], changelog_table=pg.changelog)
    message = str(info.value)
    assert f"table {t!r}: key column 'k' of type {outer} (a domain over " in message
    assert base.split(" ")[0].upper() in message.upper().split("(A DOMAIN OVER ")[1]
    assert not capture_status(pg.engine, [t], changelog_table=pg.changelog).changelog_exists


async def test_domain_columns_are_described_and_written_as_their_base_types(pg: KeyDb) -> None:
    """Field types, lengths and scales as the base type's; a ``timestamptz`` domain's value is
    written as the instant it is, whatever the time zone of wall times."""
    names = {
        "qty": "integer",
        "flag": "boolean",
        "stamp": "timestamptz",
        "wall": "timestamp",
        "amount": "numeric(10,2)",
        "code": "varchar(12)",
        "day": "date",
    }
    doms = {col: pg.name(col) for col in names}
    deep = pg.name("deep")
    t, plain = pg.name("dt"), pg.name("plain")
    pg.run(
        *(f"CREATE DOMAIN {doms[col]} AS {base}" for col, base in names.items()),
        f"CREATE DOMAIN {deep} AS {doms['amount']}",
        f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, "
        + ", ".join(f"{col} {doms[col]}" for col in names)
        + f", deep {deep}, crm_id VARCHAR(18) UNIQUE)",
        f"CREATE TABLE {plain} (id INTEGER PRIMARY KEY, "
        + ", ".join(f"{col} {base}" for col, base in names.items())
        + ", deep numeric(10,2), crm_id VARCHAR(18) UNIQUE)",
        f"INSERT INTO {t} (id) VALUES (1)",
    )
    conn = pg.connector(time_zone="Europe/Warsaw", capture="modified_column")
    await conn.open()
    try:
        fields = (*names, "deep")
        binding = EntityBinding("row", t, "id", fields, external_id="crm_id")
        described = (await conn.describe(binding)).fields
        expected = (await conn.describe(EntityBinding("p", plain, "id", fields, "crm_id"))).fields
        assert {n: (f.type, f.length, f.scale) for n, f in described.items()} == {
            n: (f.type, f.length, f.scale) for n, f in expected.items()
        }
        assert (described["amount"].scale, described["code"].length) == (2, 12)

        at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        values = {"stamp": at, "wall": at, "flag": True, "qty": 3, "amount": Decimal("1.25")}
        await _write(conn, binding, action="update", key="1", values=values)
        with pg.engine.connect() as db:
            stored = db.exec_driver_sql(f"SELECT stamp, wall FROM {t}").one()
        assert stored[0] == at  # the instant, not Warsaw's wall time taken as UTC
        assert stored[1] == datetime(2026, 1, 2, 4, 4, 5)  # Warsaw's wall time
        (record,) = (await conn.read_records(binding, ["1"])).values()
        assert {k: record.fields[k] for k in values} == values
    finally:
        await conn.close()


async def test_a_domain_over_an_enum_is_refused_as_key_and_written_as_the_enum(pg: KeyDb) -> None:
    """PostgreSQL compares a domain over an enum with nothing (not even itself): as a key it is
    refused at install-capture and at check, naming the column and the domain, where it used
    to be installed and fail every read. As another column it is read and written."""
    kind, dom, t = pg.name("mood"), pg.name("dmood"), pg.name("en")
    pg.run(
        f"CREATE TYPE {kind} AS ENUM ('sad', 'ok', 'happy')",
        f"CREATE DOMAIN {dom} AS {kind}",
        f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, k {dom} NOT NULL UNIQUE, feel {dom}, "
        "crm_id VARCHAR(18) UNIQUE)",
        f"INSERT INTO {t} VALUES (1, 'ok', 'sad', NULL)",
    )
    with pytest.raises(ConfigError, match="no = or < operator for a domain over an enum") as info:
        install_capture(pg.engine, [(t, "k")], changelog_table=pg.changelog)
    assert f"table {t!r}: key column 'k' of type {dom}" in str(info.value)
    conn = pg.connector(capture="modified_column")
    await conn.open()
    try:
        with pytest.raises(ConfigError, match="domain over an enum") as refused:
            await conn.describe(EntityBinding("row", t, "k", ("feel",)))
        assert f"key column 'k' of type {dom}" in str(refused.value)
        binding = EntityBinding("row", t, "id", ("feel",), external_id="crm_id")
        assert (await conn.describe(binding)).fields["feel"].picklist == ("sad", "ok", "happy")
        await _write(conn, binding, action="update", key="1", values={"feel": "happy"})
        assert (await conn.read_records(binding, ["1"]))["1"].fields["feel"] == "happy"
    finally:
        await conn.close()
