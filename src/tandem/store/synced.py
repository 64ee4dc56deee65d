"""The last synced version of each record: for no-op skipping, echo suppression, conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem import codec
from tandem.errors import StoreError
from tandem.store._sql import check_side, chunks, insert_many, select_in, unique
from tandem.store.records import Side, SyncedState
from tandem.store.schema import synced
from tandem.store.types import binds

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


def _by(conn: sa.Connection, entity: str, side: Side, keys: list[str]) -> dict[str, Any]:
    """The ids and keys of the rows holding ``keys`` on ``side``, by that key."""
    rows = select_in(conn, synced, _KEYS, {"entity": entity}, f"{side}_key", keys)
    at = _KEYS.index(f"{side}_key")
    return {row[at]: row for row in rows}


_KEYS = ("id", "erp_key", "crm_key")


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
    """Upsert the states of one entity (see :meth:`tandem.store.StateStore.save_synced`).

    Every state is bound for the driver (its values encoded) before anything is written,
    so a value that cannot be stored leaves the store untouched and is named with its
    record and field.
    """
    latest = _latest(states)
    found, drop, detach = _match(conn, entity, latest)
    bind = binds(conn.dialect)
    instant, flag, updated_at = bind.instant, bind.flag, bind.instant(now)
    # A batch's states share their modified-at objects (one read's instant) and their
    # flags: each is bound once, not once per state (binding an instant formats it).
    false, true = flag(False), flag(True)
    last_erp: Any = None
    last_crm: Any = None
    erp_bound: Any = None
    crm_bound: Any = None
    rekeyed: list[dict[str, Any]] = []
    # New rows and rows whose keys stay, bound for the driver: one batched native upsert
    # on their ERP key, one on their CRM key for the rows without an ERP key.
    upserts: dict[bool, list[Any]] = {True: [], False: []}
    with_erp, crm_only = upserts[True].extend, upserts[False].extend
    dumps = codec.dumps
    try:
        for state, row in zip(latest, found, strict=True):
            erp_key, crm_key = state.erp_key, state.crm_key
            encoded = dumps(state.values)
            if row is not None:
                erp_key = erp_key or row.erp_key
                crm_key = crm_key or (None if row.id in detach else row.crm_key)
                if (row.erp_key, row.crm_key) != (erp_key, crm_key):
                    rekeyed.append(
                        {
                            "row_id": row.id,
                            "erp_key": erp_key,
                            "crm_key": crm_key,
                            "encoded": encoded,
                            "erp_modified": state.erp_modified,
                            "crm_modified": state.crm_modified,
                            "deleted": state.deleted,
                            "updated_at": now,
                        }
                    )
                    continue
            erp_modified, crm_modified, deleted = (
                state.erp_modified,
                state.crm_modified,
                state.deleted,
            )
            if erp_modified is not last_erp:
                last_erp = erp_modified
                erp_bound = None if erp_modified is None else instant(erp_modified)
            if crm_modified is not last_crm:
                last_crm = crm_modified
                crm_bound = None if crm_modified is None else instant(crm_modified)
            (with_erp if erp_key is not None else crm_only)(
                (
                    entity,
                    erp_key,
                    crm_key,
                    encoded,
                    erp_bound,
                    crm_bound,
                    false if deleted is False else true if deleted is True else flag(deleted),
                    updated_at,
                )
            )
    except (TypeError, ValueError, AttributeError) as exc:
        raise _unstorable(state, exc) from exc
    for part in chunks(drop):
        conn.execute(sa.delete(synced).where(synced.c.id.in_(part)))
    for part in chunks(sorted(detach)):
        conn.execute(sa.update(synced).where(synced.c.id.in_(part)).values(crm_key=None))
    if rekeyed:
        conn.execute(_REKEY, rekeyed)
    columns = ("entity", *_COLUMNS)
    update_cols = [c for c in _COLUMNS if c != "erp_key"]
    insert_many(
        conn, synced, columns, upserts[True], keys=("entity", "erp_key"), update=update_cols
    )
    update_cols = [c for c in _COLUMNS if c != "crm_key"]
    insert_many(
        conn, synced, columns, upserts[False], keys=("entity", "crm_key"), update=update_cols
    )


def _match(
    conn: sa.Connection, entity: str, latest: Sequence[SyncedState]
) -> tuple[list[Any], list[int], set[int]]:
    """The stored row of each state (``None`` for a new record), and the rows to delete or
    to strip of their CRM key because that key now belongs to another record."""
    by_erp = _by(conn, entity, "erp", [s.erp_key for s in latest if s.erp_key])
    # Only CRM keys not already found on their ERP row need a second look-up.
    unresolved = [
        s.crm_key
        for s in latest
        if s.crm_key and (s.erp_key not in by_erp or by_erp[s.erp_key].crm_key != s.crm_key)
    ]
    by_crm = _by(conn, entity, "crm", unresolved)
    drop: list[int] = []
    detach: set[int] = set()
    if not by_erp and not by_crm:  # all new, as in an initial load
        return [None] * len(latest), drop, detach
    found: list[Any] = []
    for state in latest:
        row_e = by_erp.get(state.erp_key) if state.erp_key else None
        row_c = by_crm.get(state.crm_key) if state.crm_key else None
        if row_e is not None and row_c is not None and row_e.id != row_c.id:
            # The CRM key was saved alone before, or now belongs to this ERP record.
            if row_c.erp_key is None:
                drop.append(row_c.id)
            else:
                detach.add(row_c.id)
        found.append(row_e if row_e is not None else row_c)
    return found, drop, detach


_REKEY = (
    sa.update(synced)
    .where(synced.c.id == sa.bindparam("row_id"))
    .values(state=sa.bindparam("encoded", type_=sa.Text()))
)
"""Moves a row to new keys; the other columns come from each parameter set's keys."""


def _unstorable(state: SyncedState, error: Exception) -> StoreError:
    """Name the record, and the field whose value the codec refused when it is one."""
    where = f"{state.entity} record (erp {state.erp_key!r}, crm {state.crm_key!r})"
    for field, value in state.values.items():
        try:
            codec.dumps(value)
        except (TypeError, ValueError) as exc:
            return StoreError(f"{where}, field {field}: cannot store value: {exc}")
    return StoreError(f"{where}: cannot store synced state: {error}")


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
