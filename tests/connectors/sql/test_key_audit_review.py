"""Upgrades from the first release's change capture, in the cases test_key_audit_upgrade.py
does not reach.

- A long log of the first release's entries is rewritten before the ERP's table is locked, in
  one statement.
- A MariaDB ``TIMESTAMP`` key the first release logged in a writer's session time zone (no
  zone in the text: the rows it names cannot be told): every row is logged again, so that no
  change made before the upgrade is lost.
- A PostgreSQL ``CHAR(n)`` key seeded by the first release (``CAST(k AS TEXT)`` trims the
  padding the reader keeps): a pending seed entry must still read as its record, not as the
  delete of a key that names no row while the record is never synced.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from keydb import KeyDb, install_first_release, open_key_db, writer_not_in_utc
from sqlerp import changes_after

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import install_capture

PG = pytest.mark.postgres


@pytest.fixture
def pg(pg_url: str) -> Iterator[KeyDb]:
    with open_key_db(pg_url) as pg:
        yield pg


# -- upgrade: the first release's seed of a CHAR(n) key ---------------------------------------


@PG
@pytest.mark.parametrize("key_type", ["CHAR(6)", "CHARACTER(6)", "domain"])
async def test_a_char_key_seeded_trimmed_by_the_first_release_reads_as_its_record(
    pg: KeyDb, key_type: str
) -> None:
    """The first release seeded ``'ab'`` for the row whose key the reader reads as
    ``'ab    '``: after install-capture the entry names that row (an insert), not a delete of
    a key that never existed while the row is never synced. A domain over ``CHAR(6)`` too."""
    t = pg.name("ch")
    if key_type == "domain":
        key_type = pg.name("dch")
        pg.run(f"CREATE DOMAIN {key_type} AS CHAR(6)")
    pg.run(
        f"CREATE TABLE {t} (k {key_type} NOT NULL PRIMARY KEY, name VARCHAR(20))",
        f"INSERT INTO {t} VALUES ('ab', 'a'), ('abcdef', 'full'), ('x y', 'inner space')",
    )
    install_first_release(pg, t)
    assert sorted(k for k, _ in pg.log(t)) == ["ab", "abcdef", "x y"]  # trimmed by the seed
    pg.run(f"UPDATE {t} SET name = 'full2' WHERE k = 'abcdef'")  # the trigger pads: as read

    install_capture(pg.engine, [(t, "k")], changelog_table=pg.changelog)
    install_capture(pg.engine, [(t, "k")], changelog_table=pg.changelog)  # and again: the same
    assert sorted({k for k, _ in pg.log(t)}) == ["ab    ", "abcdef", "x y   "]

    conn = pg.connector()
    await conn.open()
    try:
        binding = EntityBinding("row", t, "k", ("name",))
        changes = await changes_after(conn, binding, None)
        assert {c.key: (c.deleted, c.fields.get("name")) for c in changes} == {
            "ab    ": (False, "a"),
            "abcdef": (False, "full2"),
            "x y   ": (False, "inner space"),
        }
    finally:
        await conn.close()


@PG
async def test_a_varchar_key_ending_in_spaces_is_not_padded_by_the_upgrade(pg: KeyDb) -> None:
    """Only a CHAR(n) key's text is padded: a VARCHAR key's trailing spaces are its own."""
    t = pg.name("vc")
    pg.run(
        f"CREATE TABLE {t} (k VARCHAR(6) NOT NULL PRIMARY KEY, name VARCHAR(20))",
        f"INSERT INTO {t} VALUES ('ab', 'a'), ('ab ', 'b')",
    )
    install_first_release(pg, t)
    install_capture(pg.engine, [(t, "k")], changelog_table=pg.changelog)
    assert sorted(k for k, _ in pg.log(t)) == ["ab", "ab "]


# -- upgrade: the rewrite of a long log does not hold the ERP's table -------------------------


@PG
def test_a_long_legacy_log_is_rewritten_in_one_statement_before_the_table_is_locked(
    pg: KeyDb,
) -> None:
    """install-capture runs in one transaction on PostgreSQL, and replacing a table's triggers
    locks that table (its readers too) until the commit: the first release's entries are
    rewritten before, in one statement (not one round trip per key text); after, the log is
    only scanned for entries written meanwhile (none here)."""
    t = pg.name("lg")
    pg.run(
        f"CREATE TABLE {t} (k TIMESTAMP(6) NOT NULL PRIMARY KEY, name VARCHAR(20))",
        f"INSERT INTO {t} SELECT TIMESTAMP '2026-01-01' + g * INTERVAL '1.5 second', 'n' "
        "FROM generate_series(1, 300) g",
    )
    install_first_release(pg, t)
    pg.run(f"UPDATE {t} SET name = 'm'")  # to_jsonb's text: '2026-01-01T00:00:01.5'
    sent: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        sent.extend([statement] * (len(params) if many else 1))

    sa.event.listen(pg.engine, "before_cursor_execute", count)
    try:
        install_capture(pg.engine, [(t, "k")], changelog_table=pg.changelog)
    finally:
        sa.event.remove(pg.engine, "before_cursor_execute", count)
    rewrites = [i for i, s in enumerate(sent) if s.lstrip().upper().startswith("UPDATE")]
    ddl = ("DROP TRIGGER", "CREATE TRIGGER")
    first_trigger_ddl = next(i for i, s in enumerate(sent) if s.upper().startswith(ddl))
    assert len(rewrites) == 1 and rewrites[0] < first_trigger_ddl
    log = pg.log(t)
    assert len(log) == 600 and len({k for k, _ in log}) == 300
    assert ("2026-01-01 00:00:01.500000", "U") in log and all("T" not in k for k, _ in log)


# -- upgrade: MariaDB TIMESTAMP keys logged in the writer's time zone --------------------------


@pytest.fixture
def mdb(mariadb_url: str) -> Iterator[KeyDb]:
    with open_key_db(mariadb_url, writer_not_in_utc(mariadb_url)) as mdb:
        yield mdb


@pytest.mark.mariadb
async def test_mariadb_timestamp_keys_logged_in_a_writers_zone_are_not_lost_on_upgrade(
    mdb: KeyDb,
) -> None:
    t = mdb.name("ts")
    mdb.run(f"CREATE TABLE {t} (k TIMESTAMP NOT NULL PRIMARY KEY, name VARCHAR(20))")
    install_first_release(mdb, t)
    mdb.run(  # at +05:00: 03:04:05 UTC, logged as 08:04:05
        f"INSERT INTO {t} VALUES ('2026-01-02 08:04:05', 'a')",
        f"INSERT INTO {t} VALUES ('2026-01-02 09:00:00', 'b')",
        f"UPDATE {t} SET name = 'a2' WHERE k = '2026-01-02 08:04:05'",
        engine=mdb.writer,
    )

    install_capture(mdb.engine, [(t, "k")], changelog_table=mdb.changelog)
    logged = len(mdb.log(t))
    install_capture(mdb.engine, [(t, "k")], changelog_table=mdb.changelog)  # current: nothing more
    assert len(mdb.log(t)) == logged
    conn = mdb.connector()
    await conn.open()
    try:
        binding = EntityBinding("row", t, "k", ("name",))
        changes = await changes_after(conn, binding, None)
        live = {c.key: c.fields["name"] for c in changes if not c.deleted}
        assert live == {"2026-01-02 03:04:05": "a2", "2026-01-02 04:00:00": "b"}
    finally:
        await conn.close()
