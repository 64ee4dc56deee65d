"""Change capture of keys of every type: the logged key text must name the right row, or the key
is refused at install.

The reader's text of a key (``Change.key``) is ``str()`` of the value, a decimal without an
exponent and an aware date-time in UTC. The triggers and the seed must write that very text
for date-times (microseconds only when not 0; a ``timestamptz`` or MariaDB ``TIMESTAMP`` in UTC
whatever the writer's session time zone), booleans, times, small decimals and ZEROFILL
numbers, or every change of such a row is read as a delete of a key that names no row. A type
without an exact text (floating point, binary, JSON, ...; on SQLite anything but integers and
text) is refused by ``install_capture``, naming the table, the column and the type.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from keydb import KeyDb, open_key_db, writer_not_in_utc
from sqlerp import changes_after, collect

from tandem.connectors.base import Change, EntityBinding
from tandem.connectors.sql import capture_status, install_capture
from tandem.connectors.sql.reader import key_text
from tandem.errors import ConfigError

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb


@pytest.fixture
def db(db_url: str) -> Iterator[KeyDb]:
    with open_key_db(db_url, writer_not_in_utc(db_url)) as db:
        yield db


def _binding(table: str, **options: Any) -> EntityBinding:
    return EntityBinding(name="row", source=table, key="k", fields=("name",), options=options)


def _flat(batches: list[Any]) -> list[Change]:
    return [c for batch in batches for c in batch]


# -- keys that capture must log as the reader reads them --------------------------------------

Value = tuple[str, str]
"""A key value as an SQL literal (written in the writer's time zone), and the reader's text."""

KEY_TYPES = [
    pytest.param(
        "postgresql",
        "TIMESTAMP(6)",
        [
            ("'2026-01-02 03:04:05'", "2026-01-02 03:04:05"),
            ("'2026-01-02 03:04:05.25'", "2026-01-02 03:04:05.250000"),
            ("'2026-01-02 03:04:05.000001'", "2026-01-02 03:04:05.000001"),
            ("'1999-12-31 23:59:59'", "1999-12-31 23:59:59"),
        ],
        marks=PG,
        id="pg-timestamp",
    ),
    pytest.param(
        "postgresql",
        "TIMESTAMP(3)",
        [
            ("'2026-01-02 03:04:05.1'", "2026-01-02 03:04:05.100000"),
            ("'2026-01-02 03:04:05'", "2026-01-02 03:04:05"),
            ("'2026-01-02 03:04:05.123'", "2026-01-02 03:04:05.123000"),
        ],
        marks=PG,
        id="pg-timestamp3",
    ),
    pytest.param(
        "postgresql",
        "TIMESTAMPTZ",
        [
            ("'2026-01-02 03:04:05+00'", "2026-01-02 03:04:05+00:00"),
            ("'2026-01-02 08:34:05.5+05:30'", "2026-01-02 03:04:05.500000+00:00"),
            ("'2026-07-01 00:00:00-03:30'", "2026-07-01 03:30:00+00:00"),
            ("'1890-01-01 12:00:00+00'", "1890-01-01 12:00:00+00:00"),  # read as LMT +05:21:10
        ],
        marks=PG,
        id="pg-timestamptz",
    ),
    pytest.param(
        "postgresql",
        "BOOLEAN",
        [("true", "True"), ("false", "False"), ("false", "False")],
        marks=PG,
        id="pg-boolean",
    ),
    pytest.param(
        "postgresql",
        "TIME(6)",
        [
            ("'03:04:05'", "03:04:05"),
            ("'03:04:05.25'", "03:04:05.250000"),
            ("'23:59:59.999999'", "23:59:59.999999"),
            ("'00:00:00'", "00:00:00"),
        ],
        marks=PG,
        id="pg-time",
    ),
    pytest.param(
        "postgresql",
        "NUMERIC(20, 8)",
        [
            ("0", "0.00000000"),
            ("0.00000001", "0.00000001"),
            ("12.5", "12.50000000"),
            ("-0.0000005", "-0.00000050"),
        ],
        marks=PG,
        id="pg-small-numeric",
    ),
    pytest.param(
        "postgresql",
        "DATE",
        [
            ("'2026-01-02'", "2026-01-02"),
            ("'0099-12-31'", "0099-12-31"),
            ("'2026-02-28'", "2026-02-28"),
        ],
        marks=PG,
        id="pg-date",
    ),
    pytest.param(
        "mysql",
        "DATETIME(6)",
        [
            ("'2026-01-02 03:04:05'", "2026-01-02 03:04:05"),
            ("'2026-01-02 03:04:05.25'", "2026-01-02 03:04:05.250000"),
            ("'2026-01-02 03:04:05.000001'", "2026-01-02 03:04:05.000001"),
            ("'0999-12-31 23:59:59'", "0999-12-31 23:59:59"),
        ],
        marks=MARIADB,
        id="mariadb-datetime6",
    ),
    pytest.param(
        "mysql",
        "DATETIME(3)",
        [
            ("'2026-01-02 03:04:05.1'", "2026-01-02 03:04:05.100000"),
            ("'2026-01-02 03:04:05'", "2026-01-02 03:04:05"),
            ("'2026-01-02 03:04:05.123'", "2026-01-02 03:04:05.123000"),
        ],
        marks=MARIADB,
        id="mariadb-datetime3",
    ),
    pytest.param(
        "mysql",
        "TIMESTAMP(6)",
        [  # written at +05:00: stored and read (UTC session) five hours earlier
            ("'2026-01-02 08:04:05'", "2026-01-02 03:04:05"),
            ("'2026-01-02 08:04:05.5'", "2026-01-02 03:04:05.500000"),
            ("'2026-01-01 02:00:00'", "2025-12-31 21:00:00"),
            ("'2026-07-01 05:00:00.000001'", "2026-07-01 00:00:00.000001"),
        ],
        marks=MARIADB,
        id="mariadb-timestamp",
    ),
    pytest.param(
        "mysql",
        "DECIMAL(20, 8)",
        [
            ("0", "0.00000000"),
            ("0.00000001", "0.00000001"),
            ("12.5", "12.50000000"),
            ("-0.0000005", "-0.00000050"),
        ],
        marks=MARIADB,
        id="mariadb-small-decimal",
    ),
    pytest.param(
        "mysql",
        "INT(6) UNSIGNED ZEROFILL",
        [("5", "5"), ("42", "42"), ("123456", "123456"), ("7", "7")],
        marks=MARIADB,
        id="mariadb-zerofill",
    ),
    pytest.param(
        "mysql",
        "DECIMAL(8, 2) ZEROFILL",
        [("3.5", "3.50"), ("0", "0.00"), ("12", "12.00"), ("7.25", "7.25")],
        marks=MARIADB,
        id="mariadb-decimal-zerofill",
    ),
    pytest.param(
        "mysql",  # TINYINT(1): the driver returns an integer
        "BOOLEAN",
        [("1", "1"), ("0", "0"), ("0", "0")],
        marks=MARIADB,
        id="mariadb-boolean",
    ),
    pytest.param(
        "sqlite",
        "INTEGER",
        [("5", "5"), ("-1", "-1"), ("12", "12"), ("7", "7")],
        id="sqlite-integer",
    ),
    pytest.param(
        "sqlite",
        "VARCHAR(20)",
        [("'a'", "a"), ("'2026-01-02 03:04:05'", "2026-01-02 03:04:05"), ("'c'", "c")],
        id="sqlite-text",
    ),
]


@pytest.mark.parametrize(("db_url", "key_type", "values"), KEY_TYPES, indirect=["db_url"])
async def test_changes_of_rows_with_such_keys_name_their_rows(
    db: KeyDb, key_type: str, values: list[Value]
) -> None:
    """Seed, insert, update, delete and re-key rows in a writer session that is not in UTC:
    every change names its row by the reader's text of its key."""
    t = db.name("kt")
    (a, a_text), (c, c_text), (b, b_text) = values[:3]
    db.run(
        f"CREATE TABLE {t} (k {key_type} NOT NULL PRIMARY KEY, name VARCHAR(20))",
        f"INSERT INTO {t} (k, name) VALUES ({a}, 'a'), ({c}, 'c')",
        engine=db.writer,
    )
    install_capture(db.writer, [(t, "k")], changelog_table=db.changelog)  # the seed, too
    conn = db.connector()
    await conn.open()
    try:
        binding = _binding(t)
        live = {ch.key: ch.fields["name"] for ch in _flat(await collect(conn.read_all(binding, 2)))}
        assert live == {a_text: "a", c_text: "c"}
        seeded = await changes_after(conn, binding, None)
        assert {(ch.key, ch.deleted, ch.fields.get("name")) for ch in seeded} == {
            (a_text, False, "a"),
            (c_text, False, "c"),
        }

        statements = [
            f"UPDATE {t} SET name = 'a2' WHERE k = {a}",
            f"DELETE FROM {t} WHERE k = {c}",
            f"INSERT INTO {t} (k, name) VALUES ({b}, 'b')",
        ]
        expected: dict[str, tuple[bool, str | None]] = {
            a_text: (False, "a2"),
            c_text: (True, None),
        }
        expected[b_text] = (False, "b")  # the same key as c for a boolean: it is back
        if len(values) > 3:
            d, d_text = values[3]
            statements.append(f"UPDATE {t} SET k = {d} WHERE k = {b}")
            expected[b_text], expected[d_text] = (True, None), (False, "b")
        db.run(*statements, engine=db.writer)

        changes = await changes_after(conn, binding, seeded[-1].cursor, size=2)
        got = {ch.key: (ch.deleted, ch.fields.get("name")) for ch in changes}
        assert got == expected
        # every entry, seed and triggers alike, is the reader's text of a key
        assert {k for k, _ in db.log(t)} == set(expected)
        records = await conn.read_records(binding, list(expected))
        assert {k: r.fields["name"] for k, r in records.items()} == {
            k: name for k, (deleted, name) in expected.items() if not deleted
        }
    finally:
        await conn.close()


def test_key_text_is_str_but_decimals_without_exponent_and_instants_in_utc() -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    assert key_text(Decimal("1E-8")) == "0.00000001"
    assert key_text(Decimal("0E-8")) == "0.00000000"
    assert key_text(Decimal("12.50")) == "12.50"
    assert key_text(datetime(2026, 1, 2, 8, 34, 5, tzinfo=india)) == "2026-01-02 03:04:05+00:00"
    assert key_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05+00:00"
    assert key_text(datetime(2026, 1, 2, 3, 4, 5, 250000)) == "2026-01-02 03:04:05.250000"
    assert key_text(date(2026, 1, 2)) == "2026-01-02"
    assert [key_text(v) for v in (7, "AB  ", True)] == ["7", "AB  ", "True"]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_key_update_within_one_instant_in_another_zone_logs_no_delete(db: KeyDb) -> None:
    """The same instant written in two time zones is one key: no delete is logged."""
    t = db.name("tz")
    db.run(f"CREATE TABLE {t} (k TIMESTAMPTZ PRIMARY KEY, name VARCHAR(20))")
    install_capture(db.engine, [(t, "k")], changelog_table=db.changelog)
    db.run(f"INSERT INTO {t} VALUES ('2026-01-02 03:04:05+00', 'a')")
    db.run(
        f"UPDATE {t} SET k = '2026-01-02 08:34:05+05:30', name = 'b'",
        f"UPDATE {t} SET k = '2026-01-02 03:04:06+00', name = 'c'",
        engine=db.writer,
    )
    assert db.log(t) == [
        ("2026-01-02 03:04:05+00:00", "I"),
        ("2026-01-02 03:04:05+00:00", "U"),
        ("2026-01-02 03:04:05+00:00", "D"),
        ("2026-01-02 03:04:06+00:00", "U"),
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_triggers_of_an_earlier_release_keep_logging_after_the_function_is_replaced(
    db: KeyDb,
) -> None:
    """Earlier triggers pass the key column alone; the shared function then logs its raw text
    (never NULL, which would make the ERP's writes fail) until install-capture replaces them."""
    old, new = db.name("old"), db.name("new")
    db.run(
        f"CREATE TABLE {old} (id INTEGER PRIMARY KEY, name VARCHAR(20))",
        f"CREATE TABLE {new} (id INTEGER PRIMARY KEY, name VARCHAR(20))",
    )
    install_capture(db.engine, [(new, "id")], changelog_table=db.changelog)
    db.run(
        f"CREATE TRIGGER {db.name('legacy')} AFTER INSERT ON {old} FOR EACH ROW "
        f"EXECUTE FUNCTION {db.changelog}_capture('id')",
        f"INSERT INTO {old} VALUES (1, 'a')",
    )
    assert db.log(old) == [("1", "I")]


# -- a key column of a type without an exact text is refused ----------------------------------

REFUSED = [
    pytest.param("postgresql", "DOUBLE PRECISION", "floating-point", marks=PG, id="pg-float8"),
    pytest.param("postgresql", "REAL", "floating-point", marks=PG, id="pg-float4"),
    pytest.param("postgresql", "JSONB", "no text", marks=PG, id="pg-jsonb"),
    pytest.param("postgresql", "BYTEA", "no text", marks=PG, id="pg-bytea"),
    pytest.param("postgresql", "INTERVAL", "no text", marks=PG, id="pg-interval"),
    pytest.param("postgresql", "TIME WITH TIME ZONE", "no text", marks=PG, id="pg-timetz"),
    pytest.param("postgresql", "INET", "no text", marks=PG, id="pg-inet"),
    pytest.param("postgresql", "INTEGER[]", "no text", marks=PG, id="pg-array"),
    pytest.param("mysql", "DOUBLE", "floating-point", marks=MARIADB, id="mariadb-double"),
    pytest.param("mysql", "FLOAT", "floating-point", marks=MARIADB, id="mariadb-float"),
    pytest.param("mysql", "VARBINARY(16)", "no text", marks=MARIADB, id="mariadb-binary"),
    pytest.param("mysql", "SET('a', 'b')", "no text", marks=MARIADB, id="mariadb-set"),
    pytest.param("mysql", "BIT(8)", "no text", marks=MARIADB, id="mariadb-bit"),
    pytest.param("mysql", "TIME(6)", "durations", marks=MARIADB, id="mariadb-time"),
    pytest.param("sqlite", "DATETIME", "whatever form", id="sqlite-datetime"),
    pytest.param("sqlite", "TIMESTAMP", "whatever form", id="sqlite-timestamp"),
    pytest.param("sqlite", "DATE", "whatever form", id="sqlite-date"),
    pytest.param("sqlite", "TIME", "whatever form", id="sqlite-time"),
    pytest.param("sqlite", "BOOLEAN", "whatever form", id="sqlite-boolean"),
    pytest.param("sqlite", "NUMERIC(10, 2)", "whatever form", id="sqlite-numeric"),
    pytest.param("sqlite", "REAL", "floating-point", id="sqlite-real"),
    pytest.param("sqlite", "BLOB", "no text", id="sqlite-blob"),
    pytest.param("sqlite", "", "unknown", id="sqlite-untyped"),
]


@pytest.mark.parametrize(("db_url", "key_type", "why"), REFUSED, indirect=["db_url"])
def test_a_key_type_without_exact_text_is_refused_naming_table_column_and_type(
    db: KeyDb, key_type: str, why: str
) -> None:
    t, fine = db.name("bad"), db.name("fine")
    db.run(
        f"CREATE TABLE {t} (k {key_type} NOT NULL PRIMARY KEY, name VARCHAR(20))",
        f"CREATE TABLE {fine} (id INTEGER PRIMARY KEY, name VARCHAR(20))",
    )
    with pytest.raises(ConfigError, match=why) as info:
        install_capture(db.engine, [(fine, "id"), (t, "k")], changelog_table=db.changelog)
    message = str(info.value)
    assert f"table {t!r}: key column 'k'" in message
    declared = key_type.split("(")[0].split("[")[0].split(" ")[0]  # DOUBLE, INTEGER, SET
    assert f"of type {declared}" in message if declared else "type unknown" in message
    # nothing was created: not the change log, not the good table's triggers
    status = capture_status(db.engine, [fine, t], changelog_table=db.changelog)
    assert not status.changelog_exists and status.tables == {fine: False, t: False}


# -- keys of such types where they are compared as values ------------------------------------


async def test_date_and_boolean_keys_are_compared_as_values_in_a_tie_and_looked_up(
    db: KeyDb,
) -> None:
    """modified_column capture reads a tie larger than a batch past its cursor key, and
    read_records finds rows by the key's text, for key types whose text the reader parses."""
    when = "'2026-01-02 03:04:05'"
    for key_type, keys in (("DATE", ("'2026-01-01'", "'2026-01-02'")), ("BOOLEAN", ("0", "1"))):
        t = db.name(f"m{key_type[0].lower()}")
        keys_sql = ", ".join(f"({k}, 'x', {when})" for k in keys)
        if db.dialect == "postgresql" and key_type == "BOOLEAN":
            keys_sql = f"(false, 'x', {when}), (true, 'x', {when})"
        db.run(
            f"CREATE TABLE {t} (k {key_type} NOT NULL PRIMARY KEY, name VARCHAR(20), "
            "m TIMESTAMP NULL)",
            f"INSERT INTO {t} (k, name, m) VALUES {keys_sql}",
        )
        conn = db.connector(capture="modified_column")
        await conn.open()
        try:
            binding = _binding(t, modified_column="m")
            batches = await collect(conn.read_changes(binding, None, 1))
            read = [c.key for c in _flat(batches)]
            assert len(read) == 2 and len(set(read)) == 2  # the second after the first's key
            records = await conn.read_records(binding, read)
            assert sorted(records) == sorted(read)
        finally:
            await conn.close()
