"""Change capture of awkward keys and late writers: what the log says must name the right row.

* a CHAR(n) key is logged (seed and triggers alike) as the reader's ``str()`` of it;
* a key changed only in case or trailing spaces logs the old key as deleted;
* a key column that does not identify one row by itself is refused before any trigger exists;
* an UPDATE that waited on a row lock is stamped when it ran, not when its statement began.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlerp import changes_after

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, capture_status, install_capture
from tandem.connectors.sql.capture import _Mysql, changelog_table
from tandem.connectors.sql.settings import create_engine
from tandem.errors import ConfigError

SERVERS = [
    pytest.param("postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@dataclass
class Db:
    """One test's corner of a database: a unique suffix for its tables and change log."""

    url: str
    engine: sa.Engine
    suffix: str

    @property
    def changelog(self) -> str:
        return f"cl_{self.suffix}"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def name(self, base: str) -> str:
        return f"{base}_{self.suffix}"

    def run(self, *statements: str) -> None:
        with self.engine.begin() as conn:
            for stmt in statements:
                conn.exec_driver_sql(stmt)

    def install(self, *tables: tuple[str, str]) -> None:
        install_capture(self.engine, list(tables), changelog_table=self.changelog)

    def log(self, table: str) -> list[tuple[str, str, datetime]]:
        """``(row_key, op, changed_at)`` of ``table``'s entries in the order written."""
        log = changelog_table(self.changelog)
        stmt = (
            sa.select(log.c.row_key, log.c.op, log.c.changed_at)
            .where(log.c.table_name == table)
            .order_by(log.c.seq)
        )
        with self.engine.connect() as conn:
            return [(str(k), str(o), at) for k, o, at in conn.execute(stmt)]

    def connector(self) -> SqlConnector:
        return SqlConnector(SqlSettings(url=self.url, changelog_table=self.changelog))


@pytest.fixture
def db(db_url: str) -> Iterator[Db]:
    engine = create_engine(SqlSettings(url=db_url))
    try:
        yield Db(db_url, engine, uuid.uuid4().hex[:8])
    finally:
        engine.dispose()


def _binding(table: str, key: str = "code") -> EntityBinding:
    return EntityBinding(name="row", source=table, key=key, fields=("name",))


# -- 1. CHAR(n) keys ------------------------------------------------------------------------


async def test_char_key_is_logged_as_the_reader_reads_it_by_seed_and_triggers(db: Db) -> None:
    t = db.name("ch")
    db.run(
        f"CREATE TABLE {t} (code CHAR(8) PRIMARY KEY, name VARCHAR(50))",
        f"INSERT INTO {t} (code, name) VALUES ('AB', 'seeded')",
    )
    db.install((t, "code"))
    conn = db.connector()
    await conn.open()
    try:
        binding = _binding(t)
        records = [c for batch in [b async for b in conn.read_all(binding, 100)] for c in batch]
        (reader_key,) = [c.key for c in records]  # 'AB      ' on PostgreSQL, 'AB' elsewhere

        (seeded,) = await changes_after(conn, binding, None)
        assert (seeded.key, seeded.deleted, dict(seeded.fields)) == (
            reader_key,
            False,
            {"name": "seeded"},
        )

        db.run(
            f"UPDATE {t} SET name = 'edited' WHERE code = 'AB'",
            f"INSERT INTO {t} (code, name) VALUES ('CD', 'new')",
        )
        changes = await changes_after(conn, binding, seeded.cursor)
        assert [(c.key, c.deleted, dict(c.fields)) for c in changes] == [
            (reader_key, False, {"name": "edited"}),
            (reader_key.replace("AB", "CD"), False, {"name": "new"}),
        ]
        # the seed and the trigger wrote the very same text for the row
        assert [k for k, _, _ in db.log(t)][:2] == [reader_key, reader_key]
    finally:
        await conn.close()


# -- 4. a key changed only in case or trailing spaces ----------------------------------------


async def test_case_or_space_only_key_change_logs_the_old_key_as_deleted(db: Db) -> None:
    t = db.name("tx")
    # Insensitive collations: MariaDB's default (case-insensitive, PAD SPACE), SQLite NOCASE.
    collate = " COLLATE NOCASE" if db.dialect == "sqlite" else ""
    db.run(
        f"CREATE TABLE {t} (code VARCHAR(20){collate} PRIMARY KEY, name VARCHAR(50))",
        f"INSERT INTO {t} (code, name) VALUES ('abc', 'x'), ('q', 'y')",
    )
    db.install((t, "code"))
    conn = db.connector()
    await conn.open()
    try:
        binding = _binding(t)
        cursor = (await changes_after(conn, binding, None))[-1].cursor
        db.run(f"UPDATE {t} SET code = 'ABC' WHERE code = 'abc'")
        db.run(f"UPDATE {t} SET code = 'q ' WHERE code = 'q'")
        assert [(k, op) for k, op, _ in db.log(t)][2:] == [
            ("abc", "D"),
            ("ABC", "U"),
            ("q", "D"),
            ("q ", "U"),
        ]
        changes = await changes_after(conn, binding, cursor)
        assert sorted((c.key, c.deleted) for c in changes) == [
            ("ABC", False),
            ("abc", True),
            ("q", True),
            ("q ", False),
        ]
    finally:
        await conn.close()


async def test_an_update_that_keeps_the_key_logs_no_delete(db: Db) -> None:
    t = db.name("same")
    db.run(
        f"CREATE TABLE {t} (code VARCHAR(20) PRIMARY KEY, name VARCHAR(50))",
        f"INSERT INTO {t} (code, name) VALUES ('abc', 'x')",
    )
    db.install((t, "code"))
    db.run(f"UPDATE {t} SET name = 'y', code = 'abc' WHERE code = 'abc'")
    assert [(k, op) for k, op, _ in db.log(t)] == [("abc", "I"), ("abc", "U")]


# -- 3. keys that do not identify one row -----------------------------------------------------


def test_a_key_that_is_not_one_row_is_refused_before_any_trigger_exists(db: Db) -> None:
    cp, loose, view = db.name("cp"), db.name("loose"), db.name("v")
    db.run(
        f"CREATE TABLE {cp} (a INTEGER NOT NULL, b INTEGER NOT NULL, name VARCHAR(20), "
        "PRIMARY KEY (a, b))",
        f"INSERT INTO {cp} VALUES (1, 1, 'x'), (1, 2, 'y')",
        f"CREATE TABLE {loose} (id INTEGER PRIMARY KEY, code VARCHAR(20) NOT NULL, "
        f"ref VARCHAR(20), num VARCHAR(20) NOT NULL, UNIQUE (ref))",
        f"CREATE INDEX {db.name('ix')} ON {loose} (num)",
        f"CREATE VIEW {view} AS SELECT a, name FROM {cp}",
    )
    refused = [
        ((cp, "a"), "composite primary key"),
        ((cp, "b"), "composite primary key"),
        ((loose, "code"), "neither the primary key nor unique"),
        ((loose, "num"), "neither the primary key nor unique"),
        ((loose, "ref"), "may be NULL"),
        ((view, "a"), "no table"),
    ]
    for (table, key), why in refused:
        with pytest.raises(ConfigError, match=why) as info:
            db.install((table, key))
        if table != view:
            assert repr(table) in str(info.value) and repr(key) in str(info.value)
        # one bad pair refuses the whole install: the good table gets no trigger either
        with pytest.raises(ConfigError):
            db.install((loose, "id"), (table, key))
    status = capture_status(db.engine, [cp, loose], changelog_table=db.changelog)
    assert status.tables == {cp: False, loose: False}
    assert not status.changelog_exists  # refused before anything was created
    db.run(f"INSERT INTO {cp} VALUES (2, 1, 'still writable')")


def test_a_unique_not_null_column_is_accepted_as_key(db: Db) -> None:
    t, partial = db.name("uq"), db.name("uqi")
    db.run(
        f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, code VARCHAR(20) NOT NULL UNIQUE, "
        "num VARCHAR(20) NOT NULL)",
        f"CREATE UNIQUE INDEX {db.name('ux')} ON {t} (num)",
        f"INSERT INTO {t} VALUES (1, 'c1', 'n1')",
    )
    db.install((t, "code"))
    db.install((t, "num"))
    db.install((t, "id"))
    assert [(k, op) for k, op, _ in db.log(t)] == [("c1", "I")]  # seeded once, by `code`
    if db.dialect != "mysql":  # a partial unique index leaves other rows free to repeat
        db.run(
            f"CREATE TABLE {partial} (id INTEGER PRIMARY KEY, code VARCHAR(20) NOT NULL)",
            f"CREATE UNIQUE INDEX {db.name('px')} ON {partial} (code) WHERE id > 10",
        )
        with pytest.raises(ConfigError, match="neither the primary key nor unique"):
            db.install((partial, "code"))


# -- 2. MariaDB: the stamp is the time the trigger ran, in UTC --------------------------------


@pytest.mark.parametrize("db_url", SERVERS, indirect=True)
def test_an_update_that_waited_on_a_lock_is_stamped_after_what_committed_meanwhile(
    db: Db,
) -> None:
    t = db.name("lk")
    db.run(
        f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(50))",
        f"INSERT INTO {t} VALUES (1, 'a'), (2, 'b')",
    )
    db.install((t, "id"))
    failed: list[BaseException] = []

    def waiting_update() -> None:
        try:
            with db.engine.begin() as conn:
                conn.exec_driver_sql(f"UPDATE {t} SET name = 'waited' WHERE id = 1")
        except BaseException as exc:  # reported by the test thread
            failed.append(exc)

    with db.engine.connect() as holder:
        with holder.begin():
            holder.exec_driver_sql(f"SELECT * FROM {t} WHERE id = 1 FOR UPDATE")
            waiter = threading.Thread(target=waiting_update)
            waiter.start()
            time.sleep(1.0)  # the UPDATE's statement has begun and waits on the lock
            db.run(f"UPDATE {t} SET name = 'other' WHERE id = 2")
        waiter.join(timeout=30)
    assert not waiter.is_alive() and not failed
    updates = [(k, at) for k, op, at in db.log(t) if op == "U"]
    assert [k for k, _ in updates] == ["2", "1"]  # commit order
    (_, other_at), (_, waited_at) = updates
    assert waited_at > other_at  # in log order too: a reader past row 2 still finds row 1


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_mariadb_stamp_is_utc_whatever_the_writer_session_time_zone(db: Db) -> None:
    t = db.name("tz")
    db.run(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(50))")
    db.install((t, "id"))
    before = datetime.now(UTC).replace(tzinfo=None)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("SET time_zone = '+05:00'")
        conn.exec_driver_sql(f"INSERT INTO {t} VALUES (1, 'a')")
        conn.exec_driver_sql("SET time_zone = '-03:30'")
        conn.exec_driver_sql(f"UPDATE {t} SET name = 'b' WHERE id = 1")
        conn.exec_driver_sql("SET time_zone = '+00:00'")
    after = datetime.now(UTC).replace(tzinfo=None)
    stamps = [at for _, _, at in db.log(t)]
    assert len(stamps) == 2
    slack = timedelta(seconds=2)  # the server's clock against ours
    assert all(before - slack <= at <= after + slack for at in stamps), (before, stamps, after)
    assert stamps[0] <= stamps[1]


@pytest.mark.mariadb
@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_reinstall_replaces_triggers_of_an_earlier_install(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = db.name("re")
    db.run(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(50))")

    def bodies() -> list[str]:
        with db.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s",
                (t,),
            )
            return [str(r[0]) for r in rows]

    with monkeypatch.context() as patch:
        patch.setattr(_Mysql, "NOW", "UTC_TIMESTAMP(6)")  # triggers as an earlier release made
        db.install((t, "id"))
    assert len(bodies()) == 3 and not any("SYSDATE" in b for b in bodies())
    db.install((t, "id"))
    assert len(bodies()) == 3 and all("SYSDATE" in b.upper() for b in bodies())
    db.run(f"INSERT INTO {t} VALUES (1, 'a')")
    assert [(k, op) for k, op, _ in db.log(t)] == [("1", "I")]  # one trigger, one entry
