"""Whether a table's key column names one row: what ``tandem check`` says about it.

A write by key changes one row or none; one that would change several is undone and refused
(``KEY_NOT_UNIQUE``, :mod:`.writer`). So a key column that is neither the table's primary key
nor covered on its own by a unique constraint or index is named at check: as a warning while
no two rows share a key (nothing keeps it so), as an error when some do (their writes are
refused), with up to :data:`SHOWN` of the shared keys. The look for shared keys is one
``GROUP BY key HAVING COUNT(*) > 1`` bounded by :data:`LOOK_SECONDS` of the server's time; a
look that takes longer is given up and said so.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from tandem.connectors.base import Finding
from tandem.connectors.sql.describe import unique_columns
from tandem.connectors.sql.reader import key_text
from tandem.connectors.sql.source import Source

SHOWN = 5
"""The most shared key values a finding names."""

LOOK_SECONDS = 5.0
"""The longest the look for shared keys may take on the server."""


class _TooLong(Exception):
    """The look for shared keys took longer than it may."""


def audit_key(conn: sa.Connection, src: Source, seconds: float = LOOK_SECONDS) -> list[Finding]:
    """What is unguarded or wrong about the key column of ``src``'s table (none: a view or
    query without ``write_table``, which is never written by key)."""
    table = src.write_table
    key = src.binding.key
    column = table.c.get(key) if table is not None else None
    if table is None or column is None:
        return []
    primary = [c.name for c in table.primary_key.columns]
    if primary == [key] or key in unique_columns(conn, table):
        return []
    what = f"table {table.name!r}: key column {key!r} is neither the primary key"
    if key in primary:
        what += f" (it is one column of the primary key ({', '.join(primary)}))"
    what += " nor covered on its own by a unique constraint or unique index"
    fix = (
        "declare the column unique (a unique constraint or index) or choose the primary key "
        "or another unique NOT NULL column as the key"
    )
    try:
        shared, more = _shared_keys(conn, table, column, seconds)
    except _TooLong:
        return [
            Finding(
                f"{what}, so a write by a key that several rows hold is refused "
                f"(KEY_NOT_UNIQUE); whether rows share a key now was not looked up (the look "
                f"took longer than {seconds:g} s): {fix}",
                "key",
            )
        ]
    if not shared:
        return [
            Finding(
                f"{what}: no two rows share a key now, but nothing keeps it so, and a write by a "
                f"key that several rows hold is refused (KEY_NOT_UNIQUE): {fix}",
                "key",
            )
        ]
    named = ", ".join(f"{key_text(value)!r} ({count} rows)" for value, count in shared)
    return [
        Finding(
            f"{what}, and rows share a key: {named}{', and more' if more else ''}; a write to "
            f"such a record is refused (KEY_NOT_UNIQUE): give each row a key of its own, then "
            f"{fix}",
            "key",
            error=True,
        )
    ]


def _shared_keys(
    conn: sa.Connection, table: sa.Table, column: sa.Column[Any], seconds: float
) -> tuple[list[tuple[Any, int]], bool]:
    """Up to :data:`SHOWN` key values that several rows hold, with how many; whether there
    are more.

    Raises:
        _TooLong: the look took longer than ``seconds``.
    """
    count = sa.func.count()
    query = (
        sa.select(column, count)
        .where(column.is_not(None))
        .group_by(column)
        .having(count > 1)
        .order_by(column)
        .limit(SHOWN + 1)
    )
    try:
        with _bounded(conn, seconds):
            rows = [(row[0], int(row[1])) for row in conn.execute(query)]
    except sa.exc.DBAPIError as exc:
        if _cut_short(exc):
            raise _TooLong from exc
        raise
    finally:
        conn.rollback()
    return rows[:SHOWN], len(rows) > SHOWN


@contextmanager
def _bounded(conn: sa.Connection, seconds: float) -> Iterator[None]:
    """Cut statements on ``conn`` short after ``seconds`` of the server's time."""
    dialect = conn.dialect.name
    millis = max(1, int(seconds * 1000))  # 0 would mean no bound at all
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {millis}")
        yield
    elif dialect in ("mysql", "mariadb"):
        mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
        name, value = (
            ("max_statement_time", f"{millis / 1000:g}")
            if mariadb
            else ("max_execution_time", str(millis))
        )
        conn.exec_driver_sql(f"SET SESSION {name} = {value}")
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SET SESSION {name} = DEFAULT")
    elif dialect == "sqlite":
        raw = conn.connection.driver_connection
        if not isinstance(raw, sqlite3.Connection):
            yield
            return
        deadline = time.monotonic() + seconds
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            yield
        finally:
            raw.set_progress_handler(None, 0)
    else:
        yield


def _cut_short(exc: sa.exc.DBAPIError) -> bool:
    """Whether the database cut the statement short for its time bound."""
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "57014":  # PostgreSQL: query_canceled
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in (1969, 3024):  # MariaDB max_statement_time; MySQL max_execution_time
        return True
    return isinstance(orig, sqlite3.OperationalError) and "interrupted" in str(orig)
