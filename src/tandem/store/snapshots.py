"""Schema snapshots and memos: what the previous run learned about each system.

A snapshot is the last describe of a bound object: it feeds drift reports and, while it is
young enough, stands in for a new describe (each describe is an API call on Salesforce). A
memo is a small named value a connector learned (e.g. a Bulk job's time per row).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from tandem.store._sql import check_side, upsert
from tandem.store.records import Side
from tandem.store.schema import memo as memo_table
from tandem.store.schema import schema_snapshot as table

EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)
"""The capture time given to snapshots that must not be reused."""


def get(conn: sa.Connection, flow: str, side: Side, source: str) -> dict[str, Any] | None:
    """The stored field descriptions of ``source``, or None before the first snapshot."""
    found = get_dated(conn, flow, side, source)
    return None if found is None else found[0]


def get_dated(
    conn: sa.Connection, flow: str, side: Side, source: str
) -> tuple[dict[str, Any], datetime] | None:
    """The stored field descriptions of ``source`` and when they were captured."""
    check_side(side)
    row = conn.execute(
        sa.select(table.c.fields, table.c.captured_at).where(
            table.c.flow == flow, table.c.side == side, table.c.source == source
        )
    ).first()
    return None if row is None else (dict(row.fields), row.captured_at)


def put(
    conn: sa.Connection,
    flow: str,
    side: Side,
    source: str,
    fields: dict[str, Any],
    *,
    now: datetime,
) -> None:
    """Replace the snapshot of ``source``."""
    check_side(side)
    upsert(
        conn,
        table,
        [{"flow": flow, "side": side, "source": source, "fields": fields, "captured_at": now}],
        ("flow", "side", "source"),
        ("fields", "captured_at"),
    )


def expire(conn: sa.Connection, flow: str, when: datetime = EXPIRED) -> int:
    """Mark every snapshot of ``flow`` as too old to reuse (kept for drift reports)."""
    return conn.execute(
        sa.update(table).where(table.c.flow == flow).values(captured_at=when)
    ).rowcount


def get_memo(conn: sa.Connection, flow: str, name: str) -> Any:
    """A memo's value, or None."""
    row = conn.execute(
        sa.select(memo_table.c.value).where(memo_table.c.flow == flow, memo_table.c.name == name)
    ).first()
    return None if row is None else row.value


def put_memo(conn: sa.Connection, flow: str, name: str, value: Any, *, now: datetime) -> None:
    """Set a memo."""
    upsert(
        conn,
        memo_table,
        [{"flow": flow, "name": name, "value": value, "updated_at": now}],
        ("flow", "name"),
        ("value", "updated_at"),
    )


__all__ = ["EXPIRED", "expire", "get", "get_dated", "get_memo", "put", "put_memo"]
