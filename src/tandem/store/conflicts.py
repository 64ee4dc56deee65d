"""Conflicts: one field changed on both sides since the last sync, waiting for a decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store._sql import chunks, storable_ids, unique
from tandem.store.records import RESOLUTIONS, Conflict
from tandem.store.schema import conflict as table


def _conflict(row: sa.Row[Any]) -> Conflict:
    return Conflict(
        id=row.id,
        flow=row.flow,
        entity=row.entity,
        erp_key=row.erp_key,
        crm_key=row.crm_key,
        field=row.field,
        base_value=row.base_value,
        erp_value=row.erp_value,
        crm_value=row.crm_value,
        erp_modified=row.erp_modified,
        crm_modified=row.crm_modified,
        status=row.status,
        resolution=row.resolution,
        resolved_value=row.resolved_value,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
    )


def add(
    conn: sa.Connection,
    *,
    flow: str,
    entity: str,
    erp_key: str,
    crm_key: str | None,
    field: str,
    base_value: Any,
    erp_value: Any,
    crm_value: Any,
    erp_modified: datetime | None,
    crm_modified: datetime | None,
    now: datetime,
) -> int:
    """Record a conflict; an open one on the same record and field is updated. Returns its id."""
    values = {
        "crm_key": crm_key,
        "base_value": base_value,
        "erp_value": erp_value,
        "crm_value": crm_value,
        "erp_modified": erp_modified,
        "crm_modified": crm_modified,
    }
    query = (
        sa.select(table.c.id)
        .where(
            table.c.flow == flow,
            table.c.entity == entity,
            table.c.erp_key == erp_key,
            table.c.field == field,
            table.c.status == "open",
        )
        .order_by(table.c.id)
        .limit(1)
        .with_for_update()
    )
    found = conn.execute(query).scalar()
    if found is not None:
        conn.execute(sa.update(table).where(table.c.id == found).values(**values))
        return int(found)
    row = {
        "flow": flow,
        "entity": entity,
        "erp_key": erp_key,
        "field": field,
        "status": "open",
        "created_at": now,
        **values,
    }
    inserted = conn.execute(sa.insert(table).values(row)).inserted_primary_key
    assert inserted is not None  # a single-row INSERT reports its key
    return int(inserted[0])


def listing(
    conn: sa.Connection,
    *,
    flow: str | None,
    status: str | None,
    entity: str | None,
    limit: int,
    offset: int = 0,
) -> list[Conflict]:
    """Conflicts, oldest first, filtered by whatever is given."""
    query = sa.select(table).order_by(table.c.id).limit(limit).offset(offset)
    if flow is not None:
        query = query.where(table.c.flow == flow)
    if status is not None:
        if status not in ("open", "resolved"):
            raise StoreError(f"conflict status must be open or resolved, not {status!r}")
        query = query.where(table.c.status == status)
    if entity is not None:
        query = query.where(table.c.entity == entity)
    return [_conflict(row) for row in conn.execute(query)]


def resolve(
    conn: sa.Connection, conflict_id: int, resolution: str, value: Any, now: datetime
) -> Conflict:
    """Decide an open conflict; the resolved value is the winner's value or ``value``.

    ``deleted`` and ``dropped`` close it without a value (nothing was written).

    Raises:
        StoreError: unknown id, conflict not open, or an unknown resolution.
    """
    if resolution not in RESOLUTIONS:
        raise StoreError(
            f"conflict resolution must be erp, crm, value, deleted or dropped, not {resolution!r}"
        )
    row = None
    if storable_ids(conn, [conflict_id]):
        query = sa.select(table).where(table.c.id == conflict_id).with_for_update()
        row = conn.execute(query).first()
    if row is None:
        raise StoreError(f"conflict {conflict_id} does not exist")
    if row.status != "open":
        raise StoreError(
            f"conflict {conflict_id} ({row.entity} {row.erp_key}, field {row.field}) "
            f"is already resolved ({row.resolution})"
        )
    chosen = {"erp": row.erp_value, "crm": row.crm_value, "value": value}.get(resolution)
    conn.execute(
        sa.update(table)
        .where(table.c.id == conflict_id)
        .values(status="resolved", resolution=resolution, resolved_value=chosen, resolved_at=now)
    )
    done = conn.execute(sa.select(table).where(table.c.id == conflict_id)).one()
    return _conflict(done)


def by_id(conn: sa.Connection, conflict_id: int) -> Conflict | None:
    """The conflict with this id, or ``None``."""
    if not storable_ids(conn, [conflict_id]):
        return None
    row = conn.execute(sa.select(table).where(table.c.id == conflict_id)).first()
    return None if row is None else _conflict(row)


def open_fields(
    conn: sa.Connection, flow: str, entity: str, erp_keys: Sequence[str]
) -> dict[str, set[str]]:
    """ERP key -> fields with an open conflict; keys without any are absent."""
    found: dict[str, set[str]] = {}
    for part in chunks(unique(erp_keys)):
        params = {"p_flow": flow, "p_entity": entity, "p_keys": list(part)}
        for row in conn.execute(_OPEN_FIELDS, params):
            found.setdefault(row.erp_key, set()).add(row.field)
    return found


_OPEN_FIELDS = sa.select(table.c.erp_key, table.c.field).where(
    table.c.flow == sa.bindparam("p_flow"),
    table.c.entity == sa.bindparam("p_entity"),
    table.c.status == "open",
    table.c.erp_key.in_(sa.bindparam("p_keys", expanding=True)),
)
"""Built once with an expanding parameter: an ``IN`` list built per call leaves a reference
cycle (SQLAlchemy 2.1: each ``BindParameter`` is in its own ``_cloned_set``)."""


def count_open(conn: sa.Connection, flow: str) -> int:
    """Open conflicts of a flow."""
    query = sa.select(sa.func.count()).where(table.c.flow == flow, table.c.status == "open")
    return int(conn.execute(query).scalar_one())


def prune(conn: sa.Connection, before: datetime) -> int:
    """Delete conflicts resolved before ``before``."""
    stmt = sa.delete(table).where(table.c.status == "resolved", table.c.resolved_at < before)
    return conn.execute(stmt).rowcount


__all__ = ["add", "by_id", "count_open", "listing", "open_fields", "prune", "resolve"]
