"""Small SQL helpers shared by the store's modules: chunking and dialect-specific upserts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from tandem.errors import StoreError
from tandem.store.records import SIDES

CHUNK = 500
"""Most keys in one ``IN (...)`` list: far below every backend's parameter limit."""

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unique(items: Sequence[str]) -> list[str]:
    """The items without repeats, first occurrence order kept."""
    return list(dict.fromkeys(items))


def check_side(side: str) -> None:
    """Raise :class:`StoreError` unless ``side`` is ``erp`` or ``crm``."""
    if side not in SIDES:
        raise StoreError(f"side must be 'erp' or 'crm', not {side!r}")


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows, updating ``update`` columns of rows whose ``keys`` already exist.

    One ``executemany`` with the backend's native upsert: ``ON CONFLICT DO UPDATE`` on
    SQLite and PostgreSQL, ``ON DUPLICATE KEY UPDATE`` on MariaDB/MySQL (which matches on
    any unique key of the table, so ``keys`` must be the table's only unique key there, or
    the caller must have ruled out the others).

    Args:
        conn: the connection, inside a transaction.
        table: the table.
        rows: column -> value dicts, all with the same columns.
        keys: the unique key's columns.
        update: the columns to overwrite on conflict.
    """
    if not rows:
        return
    name = conn.dialect.name
    stmt: Any
    if name == "postgresql":
        pg = postgresql.insert(table)
        stmt = pg.on_conflict_do_update(
            index_elements=list(keys), set_={col: pg.excluded[col] for col in update}
        )
    elif name == "sqlite":
        lite = sqlite.insert(table)
        stmt = lite.on_conflict_do_update(
            index_elements=list(keys), set_={col: lite.excluded[col] for col in update}
        )
    elif name in ("mysql", "mariadb"):
        my = mysql.insert(table)
        stmt = my.on_duplicate_key_update({col: my.inserted[col] for col in update})
    else:
        raise StoreError(f"state store does not support the {name} database")
    conn.execute(stmt, list(rows))


__all__ = ["CHUNK", "check_side", "chunks", "unique", "upsert"]
