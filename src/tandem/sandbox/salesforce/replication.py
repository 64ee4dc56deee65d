"""getUpdated / getDeleted: which records changed or were deleted in a time window.

As in Salesforce, the window's seconds are dropped (both ends round down to the minute), the
window never reaches past the current minute, ``latestDateCovered`` says where the next call
should start, updated ids reach back 30 days and the delete log 15 days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tandem.sandbox.salesforce.errors import ApiError
from tandem.sandbox.salesforce.store import Store, Table
from tandem.sandbox.salesforce.values import format_datetime

__all__ = ["MAX_IDS", "get_deleted", "get_updated"]

MAX_IDS = 600_000
UPDATED_DAYS = 30
DELETED_DAYS = 15


def _minute(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _window(store: Store, start: datetime, end: datetime) -> tuple[datetime, datetime, datetime]:
    now = _minute(store.clock())
    lo, hi = _minute(start), min(_minute(end), now)
    if _minute(end) < lo:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "end date cannot be before start date")
    if lo < now - timedelta(days=UPDATED_DAYS):
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            f"startDate cannot be more than {UPDATED_DAYS} days ago",
        )
    return lo, max(hi, lo), now


def get_updated(store: Store, table: Table, start: datetime, end: datetime) -> dict[str, Any]:
    """Return ``{"ids", "latestDateCovered"}`` of live records modified in ``[start, end)``.

    Raises:
        ApiError: 400 ``INVALID_REPLICATION_DATE`` (bad window) or ``EXCEEDED_ID_LIMIT``.
    """
    lo, hi, _ = _window(store, start, end)
    rows = store.conn.execute(
        f'SELECT "Id" FROM {table.sql_name} WHERE "SystemModstamp" >= ? AND "SystemModstamp" < ?'
        ' AND "IsDeleted" = 0 ORDER BY "SystemModstamp", "Id" LIMIT ?',
        (format_datetime(lo), format_datetime(hi), MAX_IDS + 1),
    ).fetchall()
    if len(rows) > MAX_IDS:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", f"more than {MAX_IDS} ids in the window")
    return {"ids": [r[0] for r in rows], "latestDateCovered": format_datetime(hi)}


def get_deleted(store: Store, table: Table, start: datetime, end: datetime) -> dict[str, Any]:
    """Return ``{"deletedRecords", "earliestDateAvailable", "latestDateCovered"}``.

    Hard-deleted records stay listed: the delete log outlives them.

    Raises:
        ApiError: 400 ``INVALID_REPLICATION_DATE`` or ``EXCEEDED_ID_LIMIT``.
    """
    lo, hi, now = _window(store, start, end)
    earliest = now - timedelta(days=DELETED_DAYS)
    rows = store.conn.execute(
        "SELECT id, deleted_date FROM _deleted_log WHERE sobject = ? AND deleted_date >= ?"
        " AND deleted_date < ? ORDER BY deleted_date, id LIMIT ?",
        (table.obj.name, format_datetime(max(lo, earliest)), format_datetime(hi), MAX_IDS + 1),
    ).fetchall()
    if len(rows) > MAX_IDS:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", f"more than {MAX_IDS} ids in the window")
    return {
        "deletedRecords": [{"id": rid, "deletedDate": when} for rid, when in rows],
        "earliestDateAvailable": format_datetime(earliest),
        "latestDateCovered": format_datetime(hi),
    }
