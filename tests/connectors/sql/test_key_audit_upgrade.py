"""Upgrade: capture installed by the first release, then ``install-capture`` of this one.

The triggers, the PostgreSQL function and the seed of ``keydb.install_first_release`` are
those the first release (afb650b) created: the database's own text of a key (PostgreSQL
``to_jsonb`` in the triggers, ``CAST(... AS TEXT)`` in the seed; MariaDB ``CAST(... AS CHAR)``).
Re-installing must replace them (three triggers, no more), keep the entries they left in the
log readable as the records they name (not as deletes of keys that never existed), and change
nothing when run again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from keydb import KeyDb, install_first_release, open_key_db, writer_not_in_utc
from sqlerp import changes_after

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import capture_status, install_capture
from tandem.errors import ConfigError

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb


@pytest.fixture
def db(db_url: str) -> Iterator[KeyDb]:
    """A writer not in UTC on PostgreSQL: its timestamptz text has its offset."""
    with open_key_db(db_url, writer_not_in_utc(db_url, mariadb=False)) as db:
        yield db


def _triggers(db: KeyDb, table: str) -> list[str]:
    """The bodies (PostgreSQL: how many arguments) of ``table``'s triggers."""
    sql = {
        "postgresql": "SELECT t.tgnargs FROM pg_trigger t JOIN pg_class c "
        "ON c.oid = t.tgrelid WHERE c.relname = :t AND NOT t.tgisinternal",
        "mysql": "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = :t",
        "sqlite": "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t",
    }[db.dialect]
    with db.engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(sa.text(sql), {"t": table})]


# (key type, literals of keys a, b, c as the writer writes them, and the reader's text of each)
UPGRADES = [
    pytest.param("sqlite", "INTEGER", ("1", "2", "3"), ("1", "2", "3"), id="sqlite-integer"),
    pytest.param("sqlite", "TEXT", ("'a'", "'b'", "'c'"), ("a", "b", "c"), id="sqlite-text"),
    pytest.param("postgresql", "INTEGER", ("1", "2", "3"), ("1", "2", "3"), marks=PG, id="pg-int"),
    pytest.param(
        "postgresql",
        "TIMESTAMP(6)",
        ("'2026-01-02 03:04:05.25'", "'2026-01-02 03:04:06'", "'2026-01-02 03:04:07.000001'"),
        ("2026-01-02 03:04:05.250000", "2026-01-02 03:04:06", "2026-01-02 03:04:07.000001"),
        marks=PG,
        id="pg-timestamp",
    ),
    pytest.param(
        "postgresql",
        "TIMESTAMPTZ",
        ("'2026-01-02 03:04:05.5+00'", "'2026-01-02 08:34:06+05:30'", "'2026-01-02 03:04:07Z'"),
        (
            "2026-01-02 03:04:05.500000+00:00",
            "2026-01-02 03:04:06+00:00",
            "2026-01-02 03:04:07+00:00",
        ),
        marks=PG,
        id="pg-timestamptz",
    ),
    pytest.param(
        "postgresql",
        "TIME(6)",
        ("'03:04:05.25'", "'03:04:06'", "'23:59:59.999999'"),
        ("03:04:05.250000", "03:04:06", "23:59:59.999999"),
        marks=PG,
        id="pg-time",
    ),
    pytest.param(
        "postgresql", "BOOLEAN", ("true", "false", "false"), ("True", "False", "False"),
        marks=PG, id="pg-boolean",
    ),
    pytest.param("mysql", "INTEGER", ("1", "2", "3"), ("1", "2", "3"), marks=MARIADB, id="mdb-int"),
    pytest.param(
        "mysql",
        "DATETIME(6)",
        ("'2026-01-02 03:04:05'", "'2026-01-02 03:04:06.5'", "'2026-01-02 03:04:07'"),
        ("2026-01-02 03:04:05", "2026-01-02 03:04:06.500000", "2026-01-02 03:04:07"),
        marks=MARIADB,
        id="mdb-datetime",
    ),
    pytest.param(
        "mysql", "INT(6) UNSIGNED ZEROFILL", ("5", "42", "7"), ("5", "42", "7"),
        marks=MARIADB, id="mdb-zerofill",
    ),
    pytest.param(
        "mysql", "DECIMAL(8, 2) ZEROFILL", ("3.5", "12", "0"), ("3.50", "12.00", "0.00"),
        marks=MARIADB, id="mdb-decimal-zerofill",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("db_url", "key_type", "sql", "text"), UPGRADES, indirect=["db_url"])
async def test_install_capture_upgrades_the_first_releases_capture_keeping_its_entries(
    db: KeyDb, key_type: str, sql: tuple[str, str, str], text: tuple[str, str, str]
) -> None:
    t = f"up_{db.suffix}"
    (a, b, c), (a_text, b_text, c_text) = sql, text
    db.run(f"CREATE TABLE {t} (k {key_type} NOT NULL PRIMARY KEY, name VARCHAR(20))")
    db.run(f"INSERT INTO {t} (k, name) VALUES ({a}, 'a')", engine=db.writer)
    install_first_release(db, t)
    db.run(  # pending when the new release is installed, in the first release's text
        f"UPDATE {t} SET name = 'a2' WHERE k = {a}",
        f"INSERT INTO {t} (k, name) VALUES ({b}, 'b')",
        engine=db.writer,
    )
    if c_text != b_text:  # a boolean has two keys only
        db.run(
            f"INSERT INTO {t} (k, name) VALUES ({c}, 'c')",
            f"DELETE FROM {t} WHERE k = {c}",
            engine=db.writer,
        )

    install_capture(db.engine, [(t, "k")], changelog_table=db.changelog)
    db.run(f"UPDATE {t} SET name = 'b2' WHERE k = {b}", engine=db.writer)

    expected = {a_text: (False, "a2"), b_text: (False, "b2")}
    if c_text != b_text:
        expected[c_text] = (True, None)
    conn = db.connector()
    await conn.open()
    try:
        binding = EntityBinding("row", t, "k", ("name",))
        changes = await changes_after(conn, binding, None)
        assert {ch.key: (ch.deleted, ch.fields.get("name")) for ch in changes} == expected
        assert len(changes) == len(expected)  # no delete of a key that names no row
        assert {k for k, _ in db.log(t)} == {a_text, b_text, c_text}  # the reader's text only

        # idempotent: run again, the log and the triggers stay as they are
        before = db.log(t)
        install_capture(db.engine, [(t, "k")], changelog_table=db.changelog)
        assert db.log(t) == before
        assert capture_status(db.engine, [t], changelog_table=db.changelog).tables == {t: True}
        triggers = _triggers(db, t)
        per_table = 4 if db.dialect == "postgresql" else 3  # PostgreSQL: TRUNCATE too
        assert len(triggers) == per_table and all(_current(db.dialect, b) for b in triggers)
        db.run(f"UPDATE {t} SET name = 'a3' WHERE k = {a}", engine=db.writer)
        assert db.log(t)[len(before) :] == [(a_text, "U")]  # one trigger, one entry
    finally:
        await conn.close()


def _current(dialect: str, body: str) -> bool:
    """Whether a trigger (its body; PostgreSQL: its arguments) is the current release's."""
    if dialect == "postgresql":
        return body == "2"  # the key column and its kind; the first release: the column
    return ("SYSDATE" if dialect == "mysql" else "IS NOT NULL") in body  # SQLite: a NULL key


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_key_type_now_refused_leaves_the_first_releases_capture_working(db: KeyDb) -> None:
    """A float key the first release captured: install-capture refuses it, naming table, column
    and type, before any change; the earlier triggers and function go on logging."""
    t = f"fl_{db.suffix}"
    db.run(
        f"CREATE TABLE {t} (k DOUBLE PRECISION NOT NULL PRIMARY KEY, name VARCHAR(20))",
        f"INSERT INTO {t} VALUES (1.5, 'a')",
    )
    install_first_release(db, t)
    with pytest.raises(ConfigError, match="floating-point") as info:
        install_capture(db.engine, [(t, "k")], changelog_table=db.changelog)
    assert f"table {t!r}: key column 'k' of type DOUBLE PRECISION" in str(info.value)
    db.run(f"UPDATE {t} SET name = 'b'")
    assert db.log(t) == [("1.5", "I"), ("1.5", "U")]
    assert _triggers(db, t) == ["1"] * 3  # still the first release's
