"""The last synced version of each record: for no-op skipping, echo suppression, conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem import codec
from tandem.errors import StoreError
from tandem.store._sql import check_side, chunks, unique, upsert
from tandem.store.records import Side, SyncedState
from tandem.store.schema import synced

_COLUMNS = ("erp_key", "crm_key", "state", "erp_modified", "crm_modified", "deleted", "updated_at")


def _state(row: sa.Row[Any]) -> SyncedState:
    return SyncedState(
        entity=row.entity,
        erp_key=row.erp_key,
        crm_key=row.crm_key,
        values=row.state,
        erp_modified=row.erp_modified,
        crm_modified=row.crm_modified,
        deleted=bool(row.deleted),
    )


def load(
    conn: sa.Connection, entity: str, side: Side, keys: Sequence[str]
) -> dict[str, SyncedState]:
    """The stored states of the given keys on ``side``, keyed by that key; unknown keys absent."""
    check_side(side)
    column = synced.c.erp_key if side == "erp" else synced.c.crm_key
    found: dict[str, SyncedState] = {}
    for part in chunks(unique(keys)):
        query = sa.select(synced).where(synced.c.entity == entity, column.in_(part))
        for row in conn.execute(query):
            state = _state(row)
            key = state.erp_key if side == "erp" else state.crm_key
            assert key is not None  # matched on it
            found[key] = state
    return found


def page(
    conn: sa.Connection, entity: str, after_id: int, size: int
) -> tuple[list[SyncedState], int]:
    """One page of an entity's states in id order, and the last id to resume after."""
    query = (
        sa.select(synced)
        .where(synced.c.entity == entity, synced.c.id > after_id)
        .order_by(synced.c.id)
        .limit(size)
    )
    rows = conn.execute(query).all()
    return [_state(row) for row in rows], (rows[-1].id if rows else after_id)


def _by(
    conn: sa.Connection, entity: str, column: sa.Column[Any], keys: list[str]
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in chunks(keys):
        query = sa.select(synced.c.id, synced.c.erp_key, synced.c.crm_key).where(
            synced.c.entity == entity, column.in_(part)
        )
        for row in conn.execute(query):
            found[row.erp_key if column is synced.c.erp_key else row.crm_key] = row
    return found


def _latest(states: Sequence[SyncedState]) -> list[SyncedState]:
    """One state per record, the last given winning; a CRM-only state is dropped when the
    same call also holds that CRM key with its ERP key."""
    by_erp: dict[str, SyncedState] = {}
    by_crm: dict[str, SyncedState] = {}
    for state in states:
        if state.erp_key:
            by_erp[state.erp_key] = state
        elif state.crm_key:
            by_crm[state.crm_key] = state
        else:
            raise StoreError(f"{state.entity}: a synced state needs an ERP or a CRM key")
    paired = {s.crm_key for s in by_erp.values() if s.crm_key}
    return [*by_erp.values(), *(s for k, s in by_crm.items() if k not in paired)]


def save(conn: sa.Connection, entity: str, states: Sequence[SyncedState], now: datetime) -> None:
    """Upsert the states of one entity (see :meth:`tandem.store.StateStore.save_synced`)."""
    latest = _latest(states)
    by_erp = _by(conn, entity, synced.c.erp_key, [s.erp_key for s in latest if s.erp_key])
    # Only CRM keys not already found on their ERP row need a second look-up.
    unresolved = [
        s.crm_key
        for s in latest
        if s.crm_key and (s.erp_key not in by_erp or by_erp[s.erp_key].crm_key != s.crm_key)
    ]
    by_crm = _by(conn, entity, synced.c.crm_key, unresolved)
    drop: list[int] = []
    detach: set[int] = set()
    matched: list[tuple[SyncedState, Any]] = []
    for state in latest:
        row_e = by_erp.get(state.erp_key) if state.erp_key else None
        row_c = by_crm.get(state.crm_key) if state.crm_key else None
        if row_e is not None and row_c is not None and row_e.id != row_c.id:
            # The CRM key was saved alone before, or now belongs to this ERP record.
            if row_c.erp_key is None:
                drop.append(row_c.id)
            else:
                detach.add(row_c.id)
        matched.append((state, row_e if row_e is not None else row_c))
    rekeyed: list[dict[str, Any]] = []
    upserts: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for state, row in matched:
        old_erp = row.erp_key if row is not None else None
        old_crm = row.crm_key if row is not None and row.id not in detach else None
        values = {
            "erp_key": state.erp_key or old_erp,
            "crm_key": state.crm_key or old_crm,
            "state": dict(state.values),
            "erp_modified": state.erp_modified,
            "crm_modified": state.crm_modified,
            "deleted": state.deleted,
            "updated_at": now,
        }
        if row is not None and (row.erp_key, row.crm_key) != (values["erp_key"], values["crm_key"]):
            rekeyed.append({"row_id": row.id, **values})
        else:
            # New rows and rows whose keys stay: one batched native upsert on their key
            # (multi-row VALUES on PostgreSQL and MariaDB, far fewer round trips).
            upserts[values["erp_key"] is not None].append({"entity": entity, **values})
    for part in chunks(drop):
        conn.execute(sa.delete(synced).where(synced.c.id.in_(part)))
    for part in chunks(sorted(detach)):
        conn.execute(sa.update(synced).where(synced.c.id.in_(part)).values(crm_key=None))
    try:
        if rekeyed:
            conn.execute(sa.update(synced).where(synced.c.id == sa.bindparam("row_id")), rekeyed)
        update_cols = [c for c in _COLUMNS if c != "erp_key"]
        upsert(conn, synced, upserts[True], ("entity", "erp_key"), update_cols)
        update_cols = [c for c in _COLUMNS if c != "crm_key"]
        upsert(conn, synced, upserts[False], ("entity", "crm_key"), update_cols)
    except sa.exc.StatementError as exc:
        if isinstance(exc.orig, TypeError | ValueError):
            raise _unencodable(latest, exc.orig) from exc
        raise


def _unencodable(states: Sequence[SyncedState], error: Exception) -> StoreError:
    """Name the record and field whose value the codec refused."""
    for state in states:
        for field, value in state.values.items():
            try:
                codec.dumps(value)
            except (TypeError, ValueError) as exc:
                return StoreError(
                    f"{state.entity} record (erp {state.erp_key!r}, crm {state.crm_key!r}), "
                    f"field {field}: cannot store value: {exc}"
                )
    return StoreError(f"cannot store synced state: {error}")


def delete(conn: sa.Connection, entity: str, side: Side, keys: Sequence[str]) -> int:
    """Forget the states of the given keys on ``side``; returns how many were removed."""
    check_side(side)
    column = synced.c.erp_key if side == "erp" else synced.c.crm_key
    removed = 0
    for part in chunks(unique(keys)):
        removed += conn.execute(
            sa.delete(synced).where(synced.c.entity == entity, column.in_(part))
        ).rowcount
    return removed


__all__ = ["delete", "load", "page", "save"]
