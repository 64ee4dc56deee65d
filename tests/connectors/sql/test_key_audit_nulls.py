"""Rows whose key is NULL: never merged into a record "None", never lost from sight, never a
pass that does not end.

A row without a key names no record: it cannot be linked, written back or told apart from
another. So a key column of a table that may be NULL is refused at ``tandem check`` (describe)
as ``install-capture`` refuses it; where nothing says the key cannot be NULL (a view, a query,
a SQLite primary key not declared NOT NULL) reads leave such rows out and name them in a
warning. The change log's triggers skip them (the ERP's write goes through: such a row is the
ERP's to write, and nothing could be logged for it) until an update gives the row a key, and
change-log reads name them. A write that would create one is a refused record (a dead letter),
rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from keydb import KeyDb, open_key_db

from tandem.connectors.base import Change, EntityBinding, WriteOp
from tandem.connectors.sql import install_capture
from tandem.connectors.sql.capture import capture_status
from tandem.errors import BindingError

SERVERS = [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture
def db(db_url: str) -> Iterator[KeyDb]:
    with open_key_db(db_url) as db:
        yield db


async def _all(batches: AsyncIterator[Any], most: int = 20) -> list[Change]:
    """The changes of at most ``most`` batches; a read that goes on longer never ends."""
    out: list[Change] = []
    read = 0
    async for batch in batches:
        read += 1
        assert read <= most, f"the read does not end: {[c.key for c in out[:10]]}"
        out.extend(batch)
    return out


# -- a key column of a table that may be NULL: refused at check -------------------------------


@pytest.mark.parametrize("capture", ["changelog", "modified_column"])
async def test_a_nullable_key_column_is_refused_at_check_naming_table_and_column(
    db: KeyDb, capture: str
) -> None:
    t = db.name("nk")
    db.run(
        f"CREATE TABLE {t} (id INTEGER NOT NULL PRIMARY KEY, code VARCHAR(10) UNIQUE, "
        "name VARCHAR(20), ts TIMESTAMP NULL)"
    )
    conn = db.connector(capture=capture)
    await conn.open()
    try:
        options = {"modified_column": "ts"} if capture == "modified_column" else {}
        binding = EntityBinding("row", t, "code", ("name",), options=options)
        with pytest.raises(BindingError, match="may be NULL") as info:
            await conn.describe(binding)
        assert (info.value.entity, info.value.setting, info.value.native) == ("row", "key", "code")
        assert f"table {t!r}: key column 'code'" in str(info.value)
        # the primary key, or a NOT NULL column, is fine
        await conn.describe(EntityBinding("row", t, "id", ("name",), options=options))
    finally:
        await conn.close()


# -- rows without a key where nothing says there are none: left out, and named ----------------


async def test_rows_without_a_key_are_left_out_of_reads_and_named_in_a_warning(
    db: KeyDb, caplog: pytest.LogCaptureFixture
) -> None:
    """A view's key column: two rows without a key are neither merged into one record "None"
    (a row whose key is the text 'None' is another record), nor read over and over."""
    t, v = db.name("kl"), db.name("klv")
    db.run(
        f"CREATE TABLE {t} (id INTEGER NOT NULL PRIMARY KEY, code VARCHAR(10) UNIQUE, "
        "name VARCHAR(20), ts TIMESTAMP NULL)",
        f"INSERT INTO {t} VALUES (1, NULL, 'n1', '2026-01-01 00:00:00'), "
        "(2, NULL, 'n2', '2026-01-01 00:00:00'), (3, 'None', 'real', '2026-01-01 00:00:00'), "
        "(4, 'a', 'a', '2026-01-01 00:00:01')",
        f"CREATE VIEW {v} AS SELECT code, name, ts FROM {t}",
    )
    conn = db.connector(capture="modified_column")
    await conn.open()
    try:
        binding = EntityBinding("row", v, "code", ("name",), options={"modified_column": "ts"})
        with caplog.at_level(logging.WARNING, logger="tandem.connectors.sql"):
            live = await _all(conn.read_all(binding, 1))
            changed = await _all(conn.read_changes(binding, None, 1))
        expected = {"None": "real", "a": "a"}
        assert {c.key: c.fields["name"] for c in live} == expected and len(live) == 2
        assert {c.key: c.fields["name"] for c in changed} == expected and len(changed) == 2
        assert (await conn.read_records(binding, ["None"]))["None"].fields["name"] == "real"

        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2  # one per read
        for message in warnings:
            assert v in message and "key column 'code' is NULL" in message
            assert "{'name': 'n1'}" in message and "{'name': 'n2'}" in message
    finally:
        await conn.close()


async def test_a_modified_read_names_only_the_rows_without_a_key_changed_since_its_cursor(
    db: KeyDb, caplog: pytest.LogCaptureFixture
) -> None:
    t = db.name("kc")
    db.run(
        f"CREATE TABLE {t} (code VARCHAR(10), name VARCHAR(20), ts TIMESTAMP NULL)",
        f"INSERT INTO {t} VALUES (NULL, 'old', '2026-01-01 00:00:00'), "
        "('a', 'a', '2026-01-02 00:00:00'), (NULL, 'new', '2026-01-03 00:00:00')",
    )
    conn = db.connector(capture="modified_column")
    await conn.open()
    try:
        query = f"SELECT code, name, ts FROM {t}"  # a query's key: nothing says it has a value
        options = {"query": query, "modified_column": "ts"}
        binding = EntityBinding("row", t, "code", ("name",), options=options)
        (first,) = await _all(conn.read_changes(binding, None, 10))
        assert first.key == "a"
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tandem.connectors.sql"):
            assert await _all(conn.read_changes(binding, first.cursor, 10)) == []
        (message,) = [r.getMessage() for r in caplog.records]
        assert "{'name': 'new'}" in message and "'old'" not in message
    finally:
        await conn.close()


# -- SQLite: a primary key that may be NULL ---------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_install_names_the_rows_without_a_key_and_seeds_the_others(
    db: KeyDb, caplog: pytest.LogCaptureFixture
) -> None:
    t = db.name("sq")
    db.run(
        f"CREATE TABLE {t} (code TEXT PRIMARY KEY, name TEXT)",
        f"INSERT INTO {t} VALUES ('a', 'x'), (NULL, 'keyless')",
    )
    with caplog.at_level(logging.WARNING, logger="tandem.connectors.sql"):
        install_capture(db.engine, [(t, "code")], changelog_table=db.changelog)
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"table {t!r}: rows whose key column 'code' is NULL or longer than 255" in message
    assert "'name': 'keyless'" in message and "'name': 'x'" not in message
    assert capture_status(db.engine, [t], changelog_table=db.changelog).tables == {t: True}
    log = db.rows(f"SELECT row_key, op FROM {db.changelog} WHERE table_name = '{t}' ORDER BY seq")
    assert log == [("a", "I")]


@pytest.mark.parametrize("db_url", ["sqlite", *SERVERS], indirect=True)
def test_the_triggers_let_the_erp_write_a_row_without_a_key_and_log_it_once_it_has_one(
    db: KeyDb,
) -> None:
    """SQLite: a TEXT primary key; PostgreSQL, MariaDB: a key column made nullable after
    install. The ERP's writes all go through (a sync tool must not fail them); nothing is
    logged for a row while it has no key; the update that gives it one logs it under that key,
    the one that takes a row's key away logs the old key as deleted."""
    t = db.name("tr")
    if db.dialect == "sqlite":
        db.run(f"CREATE TABLE {t} (id INTEGER, code TEXT PRIMARY KEY, name TEXT)")
    else:
        db.run(
            f"CREATE TABLE {t} (id INTEGER NOT NULL PRIMARY KEY, code VARCHAR(10) NOT NULL "
            "UNIQUE, name VARCHAR(20))"
        )
    install_capture(db.engine, [(t, "code")], changelog_table=db.changelog)
    if db.dialect == "postgresql":
        db.run(f"ALTER TABLE {t} ALTER COLUMN code DROP NOT NULL")
    elif db.dialect == "mysql":
        db.run(f"ALTER TABLE {t} MODIFY code VARCHAR(10) NULL")
    db.run(
        f"INSERT INTO {t} VALUES (1, 'a', 'x')",
        f"INSERT INTO {t} VALUES (2, NULL, 'draft')",  # e.g. numbered only when confirmed
        f"UPDATE {t} SET name = 'draft 2' WHERE id = 2",
        f"INSERT INTO {t} VALUES (3, NULL, 'scrap')",
        f"DELETE FROM {t} WHERE id = 3",
    )
    log_sql = f"SELECT row_key, op FROM {db.changelog} WHERE table_name = '{t}' ORDER BY seq"
    assert db.rows(log_sql) == [("a", "I")]
    db.run(
        f"UPDATE {t} SET code = 'b' WHERE id = 2",
        f"UPDATE {t} SET code = NULL WHERE id = 1",
        f"DELETE FROM {t} WHERE id = 2",
    )
    assert db.rows(log_sql) == [("a", "I"), ("b", "U"), ("a", "D"), ("b", "D")]
    assert db.rows(f"SELECT id, code, name FROM {t}") == [(1, None, "x")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_change_log_reads_name_rows_without_a_key_and_return_them_once_keyed(
    db: KeyDb, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The triggers skip a row without a key, so the change-log read names it (at most once a
    minute, and again only when the rows without a key are others); the update that gives it a
    key makes it a change like any other."""
    t = db.name("cr")
    db.run(f"CREATE TABLE {t} (code TEXT PRIMARY KEY, name TEXT)")
    install_capture(db.engine, [(t, "code")], changelog_table=db.changelog)
    db.run(f"INSERT INTO {t} VALUES ('a', 'x'), (NULL, 'draft')")
    conn = db.connector()
    await conn.open()
    try:
        binding = EntityBinding("row", t, "code", ("name",))

        async def warned_reads() -> tuple[list[str], list[str]]:
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="tandem.connectors.sql"):
                keys = [c.key for c in await _all(conn.read_changes(binding, None, 10))]
            return keys, [r.getMessage() for r in caplog.records]

        keys, (message,) = await warned_reads()
        assert keys == ["a"]
        assert f"{t}: rows without a key are not synced (key column 'code' is NULL" in message
        assert "{'name': 'draft'}" in message
        assert await warned_reads() == (["a"], [])  # looked at a minute ago
        monkeypatch.setattr("tandem.connectors.sql.connector.KEYLESS_EVERY", 0.0)
        assert await warned_reads() == (["a"], [])  # the same rows: named already
        db.run(f"INSERT INTO {t} VALUES (NULL, 'draft 2')")
        keys, (message,) = await warned_reads()
        assert "'draft'" in message and "'draft 2'" in message
        db.run(f"UPDATE {t} SET code = 'b' WHERE name = 'draft'")
        changes = await _all(conn.read_changes(binding, None, 10))
        assert [(c.key, c.fields["name"]) for c in changes] == [("a", "x"), ("b", "draft")]
    finally:
        await conn.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_write_that_would_create_a_row_without_a_key_is_a_refused_record(db: KeyDb) -> None:
    """No change log (modified-column capture): the database takes the row, the writer rolls it
    back and refuses the record, naming the key column; the rest of the batch is written."""
    t = db.name("wr")
    db.run(f"CREATE TABLE {t} (code TEXT PRIMARY KEY, name TEXT, crm_id TEXT UNIQUE)")
    conn = db.connector(capture="modified_column")
    await conn.open()
    try:
        binding = EntityBinding("row", t, "code", ("name",), external_id="crm_id")
        keyless = WriteOp(action="upsert", ref="r1", values={"name": "x"}, match="001A")
        keyed = WriteOp(action="upsert", ref="r2", values={"code": "b", "name": "y"}, match="B")
        refused, written = await conn.write_batch(binding, [keyless, keyed])
        assert not refused.ok and refused.error is not None and refused.key is None
        assert (refused.error.field, refused.error.value, refused.error.code) == (
            "code",
            None,
            "NO_KEY",
        )
        assert "record r1, field code, value None" in str(refused.error)
        assert written.ok and written.key == "b"
        assert db.rows(f"SELECT code, name, crm_id FROM {t}") == [("b", "y", "B")]
    finally:
        await conn.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_an_upsert_matching_a_row_without_a_key_updates_no_other_row(db: KeyDb) -> None:
    """``key = NULL`` would be ``key IS NULL``: every row without a key."""
    t = db.name("up")
    db.run(
        f"CREATE TABLE {t} (code TEXT PRIMARY KEY, name TEXT, crm_id TEXT UNIQUE)",
        f"INSERT INTO {t} VALUES (NULL, 'x', '001A'), (NULL, 'y', '001B')",
    )
    conn = db.connector(capture="modified_column")
    await conn.open()
    try:
        binding = EntityBinding("row", t, "code", ("name",), external_id="crm_id")
        op = WriteOp(action="upsert", ref="r1", values={"name": "z"}, match="001A")
        (out,) = await conn.write_batch(binding, [op])
        assert not out.ok and out.error is not None
        assert (out.error.field, out.error.code) == ("code", "NO_KEY")
        assert sorted(db.rows(f"SELECT name FROM {t}")) == [("x",), ("y",)]
    finally:
        await conn.close()


# -- a key longer than the change log holds ---------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite", *SERVERS], indirect=True)
def test_a_key_longer_than_the_log_holds_never_fails_the_erps_write(
    db: KeyDb, caplog: pytest.LogCaptureFixture
) -> None:
    """A VARCHAR(400) key: a value over 255 characters names no record Tandem can sync (its
    state store and a Salesforce external ID hold 255), and the log's column holds 255 (on
    SQLite any length, skipped alike). Such a row is skipped, as a row without a key is,
    instead of failing the ERP's write."""
    t, long_a, long_b = db.name("lk"), "a" * 300, "b" * 256
    db.run(
        f"CREATE TABLE {t} (code VARCHAR(400) NOT NULL PRIMARY KEY, name VARCHAR(20))",
        f"INSERT INTO {t} VALUES ('{long_a}', 'existing')",
    )
    with caplog.at_level(logging.WARNING, logger="tandem.connectors.sql"):
        install_capture(db.engine, [(t, "code")], changelog_table=db.changelog)
    (message,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "longer than 255 characters" in message and "'existing'" in message
    db.run(
        f"INSERT INTO {t} VALUES ('{long_b}', 'new'), ('{'c' * 255}', 'at the limit')",
        f"UPDATE {t} SET code = 'short' WHERE name = 'existing'",
        f"UPDATE {t} SET code = '{long_a}' WHERE name = 'existing'",
        f"DELETE FROM {t} WHERE name = 'new'",
    )
    log = db.rows(f"SELECT row_key, op FROM {db.changelog} WHERE table_name = '{t}' ORDER BY seq")
    assert log == [("c" * 255, "I"), ("short", "U"), ("short", "D")]


@pytest.mark.parametrize("db_url", ["sqlite", *SERVERS], indirect=True)
async def test_reads_leave_out_and_name_rows_whose_key_is_too_long(
    db: KeyDb, caplog: pytest.LogCaptureFixture
) -> None:
    """Read in full or by a modified-at column, a row keyed past 255 characters never reaches
    the pipeline (no state, link or external ID could hold its key); it is named instead."""
    t, long_key = db.name("rl"), "k" * 256
    db.run(
        f"CREATE TABLE {t} (code VARCHAR(400) NOT NULL PRIMARY KEY, name VARCHAR(20), "
        "ts TIMESTAMP NULL)",
        f"INSERT INTO {t} VALUES ('{long_key}', 'too long', '2026-01-01 00:00:00'), "
        f"('{'k' * 255}', 'fits', '2026-01-01 00:00:01'), ('a', 'short', '2026-01-01 00:00:02')",
    )
    conn = db.connector(capture="modified_column")
    await conn.open()
    try:
        binding = EntityBinding("row", t, "code", ("name",), options={"modified_column": "ts"})
        with caplog.at_level(logging.WARNING, logger="tandem.connectors.sql"):
            live = await _all(conn.read_all(binding, 1))
            changed = await _all(conn.read_changes(binding, None, 1))
    finally:
        await conn.close()
    expected = {"k" * 255: "fits", "a": "short"}
    assert {c.key: c.fields["name"] for c in live} == expected and len(live) == 2
    assert {c.key: c.fields["name"] for c in changed} == expected and len(changed) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per read
    for message in warnings:
        assert "key column 'code' is NULL or longer than 255 characters" in message
        assert "'too long'" in message and "'fits'" not in message
