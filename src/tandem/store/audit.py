"""The audit log: every write Tandem made, where, before/after, and which change caused it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.store._sql import check_side
from tandem.store.records import AuditEntry
from tandem.store.schema import audit as table

CAUSE_LIMIT = 1000


def write(conn: sa.Connection, entries: Sequence[AuditEntry]) -> None:
    """Append entries in one ``executemany``."""
    rows: list[dict[str, Any]] = []
    for entry in entries:
        check_side(entry.target)
        rows.append(
            {
                "flow": entry.flow,
                "entity": entry.entity,
                "target": entry.target,
                "record_key": entry.record_key,
                "action": entry.action,
                "before": entry.before,
                "after": entry.after,
                "cause": entry.cause[:CAUSE_LIMIT],
                "at": entry.at,
            }
        )
    if rows:
        conn.execute(sa.insert(table), rows)


def read(
    conn: sa.Connection,
    *,
    flow: str | None,
    entity: str | None,
    record_key: str | None,
    limit: int,
) -> list[AuditEntry]:
    """Entries, newest first, filtered by whatever is given."""
    query = sa.select(table).order_by(table.c.at.desc(), table.c.id.desc()).limit(limit)
    if flow is not None:
        query = query.where(table.c.flow == flow)
    if entity is not None:
        query = query.where(table.c.entity == entity)
    if record_key is not None:
        query = query.where(table.c.record_key == record_key)
    return [
        AuditEntry(
            flow=row.flow,
            entity=row.entity,
            target=row.target,
            record_key=row.record_key,
            action=row.action,
            before=row.before,
            after=row.after,
            cause=row.cause,
            at=row.at,
        )
        for row in conn.execute(query)
    ]


def last_at(conn: sa.Connection, flow: str) -> datetime | None:
    """When the flow last wrote anything."""
    result: datetime | None = conn.execute(
        sa.select(sa.func.max(table.c.at)).where(table.c.flow == flow)
    ).scalar()
    return result


def prune(conn: sa.Connection, before: datetime) -> int:
    """Delete entries older than ``before``."""
    return conn.execute(sa.delete(table).where(table.c.at < before)).rowcount


__all__ = ["last_at", "prune", "read", "write"]
