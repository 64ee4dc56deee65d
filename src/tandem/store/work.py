"""The work queue: records to re-read and re-sync, taken under a lease.

An item is ``pending`` until a pass takes it; it is then ``taken`` until ``lease_until``.
A pass that finishes deletes it; one that fails puts it back ``pending`` with a delay; one
that crashes leaves it ``taken``, and it becomes takeable again when the lease expires.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store._sql import check_side, chunks, unique
from tandem.store.records import Side, WorkItem
from tandem.store.schema import work as table


def _item(row: sa.Row[Any]) -> WorkItem:
    return WorkItem(
        id=row.id,
        flow=row.flow,
        entity=row.entity,
        side=row.side,
        record_key=row.record_key,
        reason=row.reason,
        attempts=row.attempts,
        not_before=row.not_before,
        status=row.status,
    )


def enqueue(
    conn: sa.Connection,
    *,
    flow: str,
    entity: str,
    side: Side,
    record_keys: Sequence[str],
    reason: str,
    not_before: datetime,
    now: datetime,
) -> int:
    """Queue records; one already pending is not queued twice (its due time may move earlier).

    Returns:
        How many new items were queued.
    """
    check_side(side)
    keys = unique(record_keys)
    pending: set[str] = set()
    for part in chunks(keys):
        params = {"p_flow": flow, "p_entity": entity, "p_side": side, "p_keys": list(part)}
        pending.update(conn.execute(_PENDING, params).scalars())
        conn.execute(_SOONER, {**params, "p_due": not_before})
    rows = [
        {
            "flow": flow,
            "entity": entity,
            "side": side,
            "record_key": key,
            "reason": reason[:255],
            "attempts": 0,
            "not_before": not_before,
            "status": "pending",
            "lease_until": None,
            "created_at": now,
        }
        for key in keys
        if key not in pending
    ]
    if rows:
        conn.execute(sa.insert(table), rows)
    return len(rows)


# The statements of the hot path are built once, with expanding parameters: an ``IN`` list
# built per call leaves a reference cycle (SQLAlchemy 2.1: each ``BindParameter`` is in its
# own ``_cloned_set``) for the garbage collector, a few per chunk of a queue drained.
_KEYS: sa.BindParameter[str] = sa.bindparam("p_keys", expanding=True)
_IDS: sa.BindParameter[int] = sa.bindparam("p_ids", expanding=True)
_DUE = sa.bindparam("p_due", type_=table.c.not_before.type)
_PENDING_KEYS = (
    table.c.flow == sa.bindparam("p_flow"),
    table.c.entity == sa.bindparam("p_entity"),
    table.c.side == sa.bindparam("p_side"),
    table.c.status == "pending",
    table.c.record_key.in_(_KEYS),
)
_PENDING = sa.select(table.c.record_key).where(*_PENDING_KEYS)
_SOONER = sa.update(table).where(*_PENDING_KEYS, table.c.not_before > _DUE).values(not_before=_DUE)
_TAKE = (
    sa.update(table)
    .where(table.c.id.in_(_IDS))
    .values(
        status="taken",
        lease_until=sa.bindparam("p_lease_until", type_=table.c.lease_until.type),
        attempts=table.c.attempts + 1,
    )
)
_TAKEN = sa.select(table).where(table.c.id.in_(_IDS))
_FINISH = sa.delete(table).where(table.c.id.in_(_IDS))
_AGAIN = (
    sa.update(table)
    .where(table.c.id.in_(_IDS))
    .values(
        status="pending",
        not_before=sa.bindparam("p_again", type_=table.c.not_before.type),
        lease_until=None,
    )
)


def _due(now: datetime) -> sa.ColumnElement[bool]:
    """Items due at ``now``: pending and due, or taken with an expired lease."""
    return sa.or_(
        sa.and_(table.c.status == "pending", table.c.not_before <= now),
        sa.and_(table.c.status == "taken", table.c.lease_until <= now),
    )


def due(
    conn: sa.Connection, flow: str, limit: int, now: datetime, offset: int = 0
) -> list[WorkItem]:
    """Up to ``limit`` due items after the first ``offset``, oldest due first, left as they
    are (a dry run's look)."""
    query = (
        sa.select(table)
        .where(table.c.flow == flow, _due(now))
        .order_by(table.c.not_before, table.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_item(row) for row in conn.execute(query)]


def take(
    conn: sa.Connection, flow: str, limit: int, lease: timedelta, now: datetime
) -> list[WorkItem]:
    """Take up to ``limit`` due items (pending and due, or taken with an expired lease)."""
    query = (
        sa.select(table.c.id)
        .where(table.c.flow == flow, _due(now))
        .order_by(table.c.not_before, table.c.id)
        .limit(limit)
    )
    if conn.dialect.name != "sqlite":
        # Two engines sharing one store never take the same item.
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    items: list[WorkItem] = []
    for part in chunks(ids):
        conn.execute(_TAKE, {"p_ids": list(part), "p_lease_until": now + lease})
        items.extend(_item(row) for row in conn.execute(_TAKEN, {"p_ids": list(part)}))
    items.sort(key=lambda item: (item.not_before, item.id))
    return items


def finish(conn: sa.Connection, ids: Sequence[int]) -> int:
    """Delete finished items; returns how many."""
    done = 0
    for part in chunks(sorted(set(ids))):
        done += conn.execute(_FINISH, {"p_ids": list(part)}).rowcount
    return done


def fail(conn: sa.Connection, ids: Sequence[int], delay_seconds: float, now: datetime) -> int:
    """Put items back in the queue, due after ``delay_seconds``; returns how many."""
    if delay_seconds < 0:
        raise StoreError(f"work retry delay must not be negative, not {delay_seconds}")
    again = now + timedelta(seconds=delay_seconds)
    changed = 0
    for part in chunks(sorted(set(ids))):
        changed += conn.execute(_AGAIN, {"p_ids": list(part), "p_again": again}).rowcount
    return changed


def count(conn: sa.Connection, flow: str) -> dict[str, int]:
    """Items of a flow per status."""
    query = (
        sa.select(table.c.status, sa.func.count())
        .where(table.c.flow == flow)
        .group_by(table.c.status)
    )
    return {row[0]: int(row[1]) for row in conn.execute(query)}


__all__ = ["count", "enqueue", "fail", "finish", "take"]
