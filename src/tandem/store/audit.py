"""The audit log: every write Tandem made, where, before/after, and which change caused it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store._sql import check_side, insert_many
from tandem.store.records import SIDES, AuditEntry
from tandem.store.schema import audit as table
from tandem.store.types import binds

CAUSE_LIMIT = 1000

_COLUMNS = ("flow", "entity", "target", "record_key", "action", "before", "after", "cause", "at")


def write(conn: sa.Connection, entries: Sequence[AuditEntry]) -> None:
    """Append entries in one batched insert; nothing is written if one cannot be stored."""
    bind = binds(conn.dialect)
    json, instant = bind.json, bind.instant
    values: list[Any] = []
    add = values.extend
    at: datetime | None = None
    bound: Any = None
    try:
        for entry in entries:
            if entry.target not in SIDES:
                check_side(entry.target)
            if entry.at is not at:  # the entries of one batch share their instant: bind it once
                at, bound = entry.at, instant(entry.at)
            before, after, cause = entry.before, entry.after, entry.cause
            add(
                (
                    entry.flow,
                    entry.entity,
                    entry.target,
                    entry.record_key,
                    entry.action,
                    None if before is None else json(before),
                    None if after is None else json(after),
                    cause if len(cause) <= CAUSE_LIMIT else cause[:CAUSE_LIMIT],
                    bound,
                )
            )
    except (TypeError, ValueError, AttributeError) as exc:
        raise StoreError(
            f"audit entry of {entry.entity} record {entry.record_key!r} in {entry.target}: "
            f"cannot store it: {exc}"
        ) from exc
    insert_many(conn, table, _COLUMNS, values)


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
