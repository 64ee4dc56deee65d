"""Dead letters: records that failed, with the system's message, kept for retry or drop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store._sql import check_side, chunks, storable_ids, unique
from tandem.store.records import DEAD_LETTER_STATUSES, DeadLetter, Side
from tandem.store.schema import dead_letter as table

VALUE_LIMIT = 1000
MESSAGE_LIMIT = 4000
ACTIVE = ("open", "retrying")
"""Statuses of a dead letter that is still unsolved; a new failure updates it."""


# Built once: a store that dead-letters many records in a pass neither builds nor leaves
# behind a statement per letter.
_UNSOLVED = (
    sa.select(table.c.id)
    .where(
        table.c.flow == sa.bindparam("b_flow"),
        table.c.entity == sa.bindparam("b_entity"),
        table.c.side == sa.bindparam("b_side"),
        table.c.record_key == sa.bindparam("b_record_key"),
        table.c.status.in_(ACTIVE),
    )
    .order_by(table.c.id)
    .limit(1)
    .with_for_update()
)
"""The unsolved letter of a record, if any (locked until the transaction ends)."""
_AGAIN = (
    sa.update(table).where(table.c.id == sa.bindparam("b_id")).values(attempts=table.c.attempts + 1)
)
"""A new failure of an unsolved letter: one attempt more, the columns given as parameters."""
_NEW = sa.insert(table)
"""A new letter, its columns given as parameters."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def describe_value(value: Any) -> str | None:
    """The offending value as stored: text as is, anything else as ``repr``, truncated."""
    if value is None:
        return None
    return _clip(value if isinstance(value, str) else repr(value), VALUE_LIMIT)


def _letter(row: sa.Row[Any]) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        flow=row.flow,
        entity=row.entity,
        side=row.side,
        record_key=row.record_key,
        field=row.field,
        value=row.value,
        message=row.message,
        code=row.code,
        payload=row.payload,
        attempts=row.attempts,
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def add(
    conn: sa.Connection,
    *,
    flow: str,
    entity: str,
    side: Side,
    record_key: str,
    message: str,
    field: str | None,
    value: Any,
    code: str | None,
    payload: dict[str, Any] | None,
    now: datetime,
) -> int:
    """Record a failure; an unsolved letter of the same record is updated. Returns its id."""
    check_side(side)
    values: dict[str, Any] = {
        "field": None if field is None else _clip(field, 255),
        "value": describe_value(value),
        "message": _clip(message, MESSAGE_LIMIT),
        "code": None if code is None else _clip(code, 100),
        "status": "open",
        "updated_at": now,
    }
    if payload is not None:
        values["payload"] = dict(payload)
    record = {"flow": flow, "entity": entity, "side": side, "record_key": record_key}
    found = conn.execute(_UNSOLVED, {f"b_{k}": v for k, v in record.items()}).scalar()
    if found is not None:
        conn.execute(_AGAIN, {"b_id": found, **values})
        return int(found)
    values.setdefault("payload", {})
    row = {**record, "attempts": 1, "created_at": now, **values}
    inserted = conn.execute(_NEW, row).inserted_primary_key
    assert inserted is not None  # a single-row INSERT reports its key
    return int(inserted[0])


def listing(
    conn: sa.Connection,
    *,
    flow: str | None,
    status: str | None,
    entity: str | None,
    limit: int,
    offset: int,
    code: str | None = None,
) -> list[DeadLetter]:
    """Dead letters, oldest first, filtered by whatever is given."""
    query = sa.select(table).order_by(table.c.id).limit(limit).offset(offset)
    if code is not None:
        query = query.where(table.c.code == code)
    if flow is not None:
        query = query.where(table.c.flow == flow)
    if status is not None:
        query = query.where(table.c.status == _status(status))
    if entity is not None:
        query = query.where(table.c.entity == entity)
    return [_letter(row) for row in conn.execute(query)]


def by_ids(conn: sa.Connection, ids: Sequence[int]) -> list[DeadLetter]:
    """The dead letters with the given ids, in id order."""
    found: list[DeadLetter] = []
    for part in chunks(storable_ids(conn, ids)):
        query = sa.select(table).where(table.c.id.in_(part)).order_by(table.c.id)
        found.extend(_letter(row) for row in conn.execute(query))
    return found


def _status(status: str) -> str:
    if status not in DEAD_LETTER_STATUSES:
        allowed = ", ".join(sorted(DEAD_LETTER_STATUSES))
        raise StoreError(f"dead-letter status must be one of {allowed}, not {status!r}")
    return status


def set_status(conn: sa.Connection, ids: Sequence[int], status: str, now: datetime) -> int:
    """Move dead letters to ``status``; returns how many changed."""
    _status(status)
    changed = 0
    for part in chunks(storable_ids(conn, ids)):
        stmt = (
            sa.update(table)
            .where(table.c.id.in_(part), table.c.status != status)
            .values(status=status, updated_at=now)
        )
        changed += conn.execute(stmt).rowcount
    return changed


def resolve(
    conn: sa.Connection,
    flow: str,
    entity: str,
    side: Side,
    record_keys: Sequence[str],
    now: datetime,
) -> int:
    """Mark the unsolved letters of records that went through as resolved; returns how many.

    Usually there is none: one indexed look-up spares the per-chunk updates.
    """
    check_side(side)
    where = {"p_flow": flow, "p_entity": entity, "p_side": side}
    if conn.execute(_WAITING, where).first() is None:
        return 0
    changed = 0
    for part in chunks(unique(record_keys)):
        params = {**where, "p_keys": list(part), "p_now": now}
        changed += conn.execute(_RESOLVE, params).rowcount
    return changed


# Built once, with expanding parameters: an ``IN`` list built per call (even of the two
# unsolved statuses) leaves a reference cycle (SQLAlchemy 2.1: each ``BindParameter`` is in
# its own ``_cloned_set``), and a pass resolves a batch at a time.
_UNSOLVED_OF_SIDE = (
    table.c.flow == sa.bindparam("p_flow"),
    table.c.entity == sa.bindparam("p_entity"),
    table.c.side == sa.bindparam("p_side"),
    table.c.status.in_(ACTIVE),
)
_WAITING = sa.select(table.c.id).where(*_UNSOLVED_OF_SIDE).limit(1)
_RESOLVE = (
    sa.update(table)
    .where(*_UNSOLVED_OF_SIDE, table.c.record_key.in_(sa.bindparam("p_keys", expanding=True)))
    .values(status="resolved", updated_at=sa.bindparam("p_now", type_=table.c.updated_at.type))
)


_UNSOLVED_KEYS = sa.select(table.c.record_key).where(
    *_UNSOLVED_OF_SIDE, table.c.record_key.in_(sa.bindparam("p_keys", expanding=True))
)


def unsolved_keys(
    conn: sa.Connection, flow: str, entity: str, side: Side, record_keys: Sequence[str]
) -> set[str]:
    """Of ``record_keys``, those with an open or retrying letter: one indexed look-up a
    chunk, however many letters the flow holds."""
    check_side(side)
    found: set[str] = set()
    where = {"p_flow": flow, "p_entity": entity, "p_side": side}
    for part in chunks(unique(record_keys)):
        found.update(conn.execute(_UNSOLVED_KEYS, {**where, "p_keys": list(part)}).scalars())
    return found


def count_open(conn: sa.Connection, flow: str) -> dict[str, int]:
    """Unsolved dead letters of a flow per status."""
    query = (
        sa.select(table.c.status, sa.func.count())
        .where(table.c.flow == flow, table.c.status.in_(ACTIVE))
        .group_by(table.c.status)
    )
    return {row[0]: int(row[1]) for row in conn.execute(query)}


def count_open_with_code(conn: sa.Connection, flow: str, code: str) -> int:
    """Open dead letters of a flow with one code (e.g. those waiting for a reference)."""
    query = sa.select(sa.func.count()).where(
        table.c.flow == flow, table.c.status == "open", table.c.code == code
    )
    return int(conn.execute(query).scalar_one())


def prune(conn: sa.Connection, before: datetime) -> int:
    """Delete resolved and dropped letters last changed before ``before``."""
    stmt = sa.delete(table).where(
        table.c.status.in_(("resolved", "dropped")), table.c.updated_at < before
    )
    return conn.execute(stmt).rowcount


__all__ = [
    "add",
    "by_ids",
    "count_open",
    "describe_value",
    "listing",
    "prune",
    "resolve",
    "set_status",
]
