"""Change-stream positions per (flow, entity, side); they only move forwards."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tandem.connectors.base import Cursor, utc
from tandem.store._sql import check_side, upsert
from tandem.store.records import Side
from tandem.store.schema import cursor as table


def get(conn: sa.Connection, flow: str, entity: str, side: Side) -> Cursor | None:
    """The stored cursor, ``None`` before the first pass."""
    check_side(side)
    row = conn.execute(
        sa.select(table.c.modified_at, table.c.record_key).where(
            table.c.flow == flow, table.c.entity == entity, table.c.side == side
        )
    ).first()
    return None if row is None else Cursor(row.modified_at, row.record_key)


def set_(
    conn: sa.Connection,
    flow: str,
    entity: str,
    side: Side,
    value: Cursor,
    *,
    force: bool,
    now: datetime,
) -> bool:
    """Store ``value`` unless it is behind the stored cursor (and not ``force``).

    Returns:
        Whether the cursor was written.
    """
    check_side(side)
    value = Cursor(utc(value.modified_at), value.key)
    where = (table.c.flow == flow, table.c.entity == entity, table.c.side == side)
    if not force:
        # Row lock on PostgreSQL/MariaDB; SQLite transactions are BEGIN IMMEDIATE already.
        query = sa.select(table.c.modified_at, table.c.record_key).where(*where).with_for_update()
        row = conn.execute(query).first()
        if row is not None and Cursor(row.modified_at, row.record_key) >= value:
            return False
    row_values = {
        "flow": flow,
        "entity": entity,
        "side": side,
        "modified_at": value.modified_at,
        "record_key": value.key,
        "updated_at": now,
    }
    upsert(
        conn,
        table,
        [row_values],
        ("flow", "entity", "side"),
        ("modified_at", "record_key", "updated_at"),
    )
    return True


def reset(conn: sa.Connection, flow: str, entity: str | None) -> int:
    """Delete the flow's cursors (of one entity when given); returns how many."""
    stmt = sa.delete(table).where(table.c.flow == flow)
    if entity is not None:
        stmt = stmt.where(table.c.entity == entity)
    return conn.execute(stmt).rowcount


def all_of(conn: sa.Connection, flow: str) -> dict[str, dict[str, Cursor]]:
    """Every cursor of a flow: entity -> side -> cursor."""
    out: dict[str, dict[str, Cursor]] = {}
    query = sa.select(table).where(table.c.flow == flow).order_by(table.c.entity, table.c.side)
    for row in conn.execute(query):
        out.setdefault(row.entity, {})[row.side] = Cursor(row.modified_at, row.record_key)
    return out


__all__ = ["all_of", "get", "reset", "set_"]
