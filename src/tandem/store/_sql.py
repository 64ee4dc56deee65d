"""Small SQL helpers shared by the store's modules: chunking, dialect-specific upserts, and
the bulk inserts and key look-ups of the hot path, which go straight to the driver."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from tandem.errors import StoreError
from tandem.store.records import SIDES

CHUNK = 500
"""Most keys in one ``IN (...)`` list: far below every backend's parameter limit."""

SQLITE_PARAMETERS = 999
"""Most parameters in one SQLite statement (the limit before SQLite 3.32), when the driver
cannot tell the connection's own limit."""

SQLITE_BATCH_PARAMETERS = 4000
"""Most parameters in one multi-row SQLite ``INSERT`` when the connection allows as many:
about four times fewer statements than :data:`SQLITE_PARAMETERS` (each costs a round
through SQLAlchemy and a step of the virtual machine), while the text of the last, shorter
statement of a batch stays quick for SQLite to compile."""

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def storable_ids(conn: sa.Connection, ids: Sequence[int]) -> list[int]:
    """The distinct ``ids`` an id column can hold, sorted; no row has any other.

    The id columns are ``INTEGER``: 32 bits on PostgreSQL and MariaDB, 64 on SQLite. An id
    beyond that (a mistyped one, with a digit too many) would make the driver or the server
    refuse the whole query, where it only names no row.
    """
    bits = 63 if conn.dialect.name == "sqlite" else 31
    return sorted({one for one in ids if -(2**bits) <= one < 2**bits})


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


def insert_many(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    values: Sequence[Any],
    *,
    keys: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """Insert rows already bound for the driver, upserting on ``keys`` when given.

    The rows skip SQLAlchemy's per-row parameter processing: bind every value with
    :func:`tandem.store.types.binds` first. They come as one flat sequence (row after row),
    so a large batch costs no tuple per row on SQLite, which gets multi-row ``INSERT``
    statements of up to :data:`SQLITE_PARAMETERS` values (a third faster than a prepared
    statement run per row). The other drivers take one ``executemany``: psycopg pipelines
    it, PyMySQL rewrites it into multi-row statements. The upsert is as in :func:`upsert`
    (``keys`` must be the only unique key on MariaDB).

    Args:
        conn: the connection, inside a transaction.
        table: the table.
        columns: the columns of each row, in order.
        values: the driver-level values of every row, ``len(columns)`` per row.
        keys: the unique key to upsert on; none for a plain insert.
        update: the columns to overwrite on conflict.
    """
    width = len(columns)
    if not values:
        return
    if len(values) % width:
        raise StoreError(f"{table.name}: {len(values)} values do not make rows of {width}")
    dialect = conn.dialect
    if dialect.name != "sqlite":
        # psycopg parses a statement's placeholders in Python unless it has at most 50,
        # so a multi-row statement would cost more than the round trips it saves.
        sql = _insert_sql(dialect, table, columns, 1, keys, update)
        conn.exec_driver_sql(sql, list(zip(*[iter(values)] * width, strict=True)))
        return
    step = max(1, _sqlite_parameters(conn) // width) * width
    full = _insert_sql(dialect, table, columns, step // width, keys, update)
    for start in range(0, len(values), step):
        part = values[start : start + step]
        rows = len(part) // width
        sql = (
            full if len(part) == step else _insert_sql(dialect, table, columns, rows, keys, update)
        )
        conn.exec_driver_sql(sql, tuple(part))


def _sqlite_parameters(conn: sa.Connection) -> int:
    """How many parameters one statement of this SQLite connection may carry, at most
    :data:`SQLITE_BATCH_PARAMETERS` (the build's limit: 999 before SQLite 3.32, 32,766 after
    by default, any when compiled otherwise)."""
    import sqlite3  # here: only a SQLite store needs the module, and it has it

    getlimit = getattr(conn.connection.driver_connection, "getlimit", None)
    if getlimit is None:  # a driver other than the standard library's
        return SQLITE_PARAMETERS
    return min(SQLITE_BATCH_PARAMETERS, int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)))


def select_in(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    where: Mapping[str, Any],
    column: str,
    keys: Sequence[Any],
) -> list[Sequence[Any]]:
    """Rows whose ``column`` is one of ``keys``, as the driver returns them.

    For key look-ups on the hot path: chunks of at most :data:`CHUNK` keys go straight to
    the driver, as an ``IN`` list (PostgreSQL: one array parameter, ``= ANY(%s)``, which
    psycopg need not parse placeholder by placeholder), without SQLAlchemy's rendering of
    expanding parameters. Values are not converted either way, so select only columns the
    driver already returns as Python wants them (text keys, integer ids), or convert them
    (see :func:`tandem.store.types.reads`).

    Args:
        conn: the connection.
        table: the table.
        columns: the columns to return, in order (the rows have them as attributes).
        where: more columns that must equal a (driver-level) value.
        column: the column matched against ``keys``.
        keys: the wanted values; repeats are harmless.
    """
    return list(iter_in(conn, table, columns, where, column, keys))


def iter_in(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    where: Mapping[str, Any],
    column: str,
    keys: Sequence[Any],
) -> Iterator[Sequence[Any]]:
    """:func:`select_in`, one chunk's rows at a time: for a caller that converts each row,
    so that the rows of all chunks are never held at once (every one the garbage collector
    has to look at, and holding many makes it run its full collections more often)."""
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    mark = _mark(dialect)
    head = (
        f"SELECT {', '.join(quote(col) for col in columns)} "
        f"FROM {dialect.identifier_preparer.format_table(table)} WHERE "
        + "".join(f"{quote(col)} = {mark} AND " for col in where)
        + quote(column)
    )
    fixed = tuple(where.values())
    for part in chunks(keys):
        if dialect.name == "postgresql":
            result = conn.exec_driver_sql(f"{head} = ANY({mark})", (*fixed, list(part)))
        else:
            sql = f"{head} IN ({', '.join([mark] * len(part))})"
            result = conn.exec_driver_sql(sql, (*fixed, *part))
        yield from result.all()  # one fetch of the chunk, not a driver call per row


_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def _mark(dialect: sa.Dialect) -> str:
    """The driver's positional placeholder (psycopg and PyMySQL take ``%s`` too)."""
    mark = _MARKS.get(dialect.paramstyle)
    if mark is None:
        raise StoreError(f"state store does not support the {dialect.driver} driver")
    return mark


def _insert_sql(
    dialect: sa.Dialect,
    table: sa.Table,
    columns: Sequence[str],
    count: int,
    keys: Sequence[str],
    update: Sequence[str],
) -> str:
    """``INSERT`` text with ``count`` rows of positional placeholders, and its upsert clause."""
    quote = dialect.identifier_preparer.quote
    mark = _mark(dialect)
    row = f"({', '.join([mark] * len(columns))})"
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(col) for col in columns)}) VALUES {', '.join([row] * count)}"
    )
    if not keys:
        return sql
    if dialect.name in ("postgresql", "sqlite"):
        sets = ", ".join(f"{quote(col)} = excluded.{quote(col)}" for col in update)
        return f"{sql} ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO UPDATE SET {sets}"
    if dialect.name in ("mysql", "mariadb"):
        sets = ", ".join(f"{quote(col)} = VALUES({quote(col)})" for col in update)
        return f"{sql} ON DUPLICATE KEY UPDATE {sets}"
    raise StoreError(f"state store does not support the {dialect.name} database")


__all__ = [
    "CHUNK",
    "SQLITE_BATCH_PARAMETERS",
    "SQLITE_PARAMETERS",
    "check_side",
    "chunks",
    "insert_many",
    "iter_in",
    "select_in",
    "unique",
    "upsert",
]
