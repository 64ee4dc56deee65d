"""The database server's clock: the clock the change-log triggers stamp their entries by."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

_NOW = {
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
    "postgresql": "SELECT clock_timestamp()",
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "mariadb": "SELECT UTC_TIMESTAMP(6)",
}


def database_time(conn: sa.Connection) -> datetime:
    """The server's time now, aware UTC (SQLite's is this machine's: it has no server)."""
    sql = _NOW.get(conn.dialect.name)
    if sql is None:
        return datetime.now(UTC)
    value = conn.execute(sa.text(sql)).scalar_one()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"the database's clock read as {value!r}")
    if value.tzinfo is None:  # UTC_TIMESTAMP and SQLite's 'now' are UTC, unzoned
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


__all__ = ["database_time"]
