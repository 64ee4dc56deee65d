"""Modified-at capture on a query or view whose key's type the catalogue does not give.

The key of a ``query`` (no ``write_table`` / ``capture_table``), or a SQLite view's computed
key, carries no SQLAlchemy type. The cursor's key (text) must still be compared with it as
the key's own type: as text it fails on PostgreSQL (``integer > character varying``), matches
no integer on SQLite (a computed value has no affinity: every row of a tie is skipped after
the first batch), and is compared as a double on MariaDB (keys beyond 2**53 are skipped).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlerp import changes_after, collect

from tandem.connectors.base import Change, Cursor, EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine

AT = datetime(2024, 1, 1, 10, 0, 0)
"""The modified-at every row of the tie group shares (naive UTC)."""
BASE = 2**53 - 6
"""First key: with batches of 7 the first batch ends at 2**53, the next key is no double."""
ROWS = 30
KEYS = [BASE + i for i in range(ROWS)]


@dataclass
class Db:
    url: str
    engine: sa.Engine
    table: str
    view: str

    def settings(self) -> SqlSettings:
        return SqlSettings(url=self.url, capture="modified_column", poll_seconds=0.05)

    def binding(self, kind: str) -> EntityBinding:
        t = self.table
        options: dict[str, Any] = {"modified_column": "m"}
        source = t
        if kind == "query":
            options["query"] = f"SELECT id, name, m FROM {t}"
        elif kind == "computed query":
            options["query"] = f"SELECT id + 0 AS id, name, m FROM {t}"
        elif kind == "text query":
            options["query"] = f"SELECT code AS id, name, m FROM {t}"
        elif kind == "computed view":
            source = self.view
        else:
            raise AssertionError(kind)
        return EntityBinding(
            name="item", source=source, key="id", fields=("name",), options=options
        )

    def insert(self, keys: list[int], at: datetime = AT) -> None:
        rows = [{"id": k, "code": str(k - BASE + 1), "name": f"n{k}", "m": at} for k in keys]
        with self.engine.begin() as conn:
            conn.execute(sa.table(self.table, *map(sa.column, rows[0])).insert(), rows)


@pytest.fixture
def db(db_url: str) -> Iterator[Db]:
    """A table with a BIGINT key and a modified-at column, and a view with a computed key."""
    suffix = uuid.uuid4().hex[:8]
    table, view = f"items_{suffix}", f"items_v_{suffix}"
    engine = create_engine(SqlSettings(url=db_url))
    md = sa.MetaData()
    sa.Table(
        table,
        md,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("m", sa.DateTime),
    )
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE VIEW {view} AS SELECT id + 0 AS id, name, m FROM {table}"))
    try:
        yield Db(db_url, engine, table, view)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP VIEW {view}"))
        md.drop_all(engine)
        engine.dispose()


KINDS = ["query", "computed query", "computed view"]


def _ints(changes: list[Change]) -> list[int]:
    return [int(c.key) for c in changes]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_tie_larger_than_a_batch_is_read_whole(db: Db, kind: str) -> None:
    db.insert(KEYS)
    conn = SqlConnector(db.settings())
    await conn.open()
    try:
        binding = db.binding(kind)
        batches = await collect(conn.read_changes(binding, None, 7))
        assert [len(b) for b in batches] == [7, 7, 7, 7, 2]
        assert _ints([c for b in batches for c in b]) == KEYS
        every = [c for b in batches for c in b]
        assert all(c.modified_at == AT.replace(tzinfo=UTC) for c in every)
        assert every[0].fields == {"name": f"n{BASE}"}
    finally:
        await conn.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_resuming_from_a_stored_cursor_reads_every_row(db: Db, kind: str) -> None:
    """A fresh connector (a restart) resumes from the cursor inside the tie, batch by batch."""
    db.insert(KEYS)
    db.insert([BASE + ROWS], AT + timedelta(seconds=1))
    seen: list[int] = []
    cursor: Cursor | None = None
    for _ in range(10):
        conn = SqlConnector(db.settings())
        await conn.open()
        try:
            batches = await collect(conn.read_changes(db.binding(kind), cursor, 7))
        finally:
            await conn.close()
        if not batches:
            break
        seen += _ints(list(batches[0]))
        cursor = batches[0][-1].cursor
    assert seen == [*KEYS, BASE + ROWS]


@pytest.mark.parametrize("kind", KINDS)
async def test_reading_after_a_cursor_in_the_tie(db: Db, kind: str) -> None:
    db.insert(KEYS)
    conn = SqlConnector(db.settings())
    await conn.open()
    try:
        binding = db.binding(kind)
        at = AT.replace(tzinfo=UTC)
        cursor = Cursor(at, str(2**53))
        assert _ints(await changes_after(conn, binding, cursor)) == [k for k in KEYS if k > 2**53]
        last = Cursor(at, str(KEYS[-1]))
        assert await changes_after(conn, binding, last, 7) == []
        # a key that is no integer (a cursor of another capture mode): the tie is read again
        odd = await changes_after(conn, binding, Cursor(at, "x"), 7)
        assert _ints(odd) == KEYS
    finally:
        await conn.close()


async def test_query_empty_when_first_read(db: Db) -> None:
    """The key's type is learnt from the rows there are when reading, not when resolving."""
    conn = SqlConnector(db.settings())
    await conn.open()
    try:
        binding = db.binding("computed query")
        assert await changes_after(conn, binding, None) == []
        db.insert(KEYS)
        first = (await collect(conn.read_changes(binding, None, 7)))[0]
        rest = await changes_after(conn, binding, first[-1].cursor, 7)
        assert _ints([*first, *rest]) == KEYS
    finally:
        await conn.close()


async def test_text_key_of_a_query_stays_text(db: Db) -> None:
    """Digits in a text key order as text ('10' < '2') and are compared as text."""
    db.insert(KEYS)
    conn = SqlConnector(db.settings())
    await conn.open()
    try:
        got = await changes_after(conn, db.binding("text query"), None, 7)
        codes = [str(i + 1) for i in range(ROWS)]
        assert [c.key for c in got] == sorted(codes)
    finally:
        await conn.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_read_all_and_records_of_an_untyped_key(db: Db, kind: str) -> None:
    """Reconcile (keyset pages) and look-ups by text key on the same sources."""
    db.insert(KEYS)
    conn = SqlConnector(db.settings())
    await conn.open()
    try:
        binding = db.binding(kind)
        pages = await collect(conn.read_all(binding, 7))
        assert _ints([c for p in pages for c in p]) == KEYS
        wanted = [str(2**53), str(2**53 + 1), str(KEYS[-1]), "404", "x"]
        got = await conn.read_records(binding, wanted)
        assert sorted(got) == sorted(wanted[:3])
        assert got[str(2**53 + 1)].fields == {"name": f"n{2**53 + 1}"}
    finally:
        await conn.close()
