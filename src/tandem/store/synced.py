"""The last synced version of each record: for no-op skipping, echo suppression, conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem import codec
from tandem.errors import StoreError
from tandem.store._sql import check_side, chunks, insert_many, iter_in, unique
from tandem.store.records import Side, SyncedState
from tandem.store.schema import synced
from tandem.store.types import binds, reads

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
    """The stored states of the given keys on ``side``, keyed by that key; unknown keys absent.

    The rows come as the driver returns them (no SQLAlchemy statement to build, no result
    processing per row) and are converted here: the state by the codec, each distinct
    instant once (the states of one batch share few modified-at instants).
    """
    check_side(side)
    rows = iter_in(conn, synced, _READ, {"entity": entity}, f"{side}_key", unique(keys))
    read = reads(conn.dialect)
    instant, json = read.instant, read.json
    by_erp = side == "erp"
    found: dict[str, SyncedState] = {}
    for name, erp_key, crm_key, state, erp_modified, crm_modified, deleted in rows:
        found[erp_key if by_erp else crm_key] = SyncedState(
            name,
            erp_key,
            crm_key,
            json(state),
            instant(erp_modified),
            instant(crm_modified),
            bool(deleted),
        )
    return found


_READ = ("entity", "erp_key", "crm_key", "state", "erp_modified", "crm_modified", "deleted")
"""The columns :func:`load` reads, in the order of :class:`SyncedState`'s fields."""


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


def _by(conn: sa.Connection, entity: str, side: Side, keys: list[str]) -> dict[str, _Row]:
    """The ids and keys of the rows holding ``keys`` on ``side``, by that key."""
    rows = iter_in(conn, synced, _KEYS, {"entity": entity}, f"{side}_key", keys)
    at = _KEYS.index(f"{side}_key")
    return {row[at]: (row[0], row[1], row[2]) for row in rows}


_KEYS = ("id", "erp_key", "crm_key")

_Row = tuple[int, str | None, str | None]
"""A stored row's id, ERP key and CRM key (a plain tuple: read by position on the hot path)."""


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
    # SQLite runs one writer at a time and its transactions are serializable (the store's
    # take the write lock first, BEGIN IMMEDIATE; a deferred one whose snapshot went stale
    # could not write at all), so the rows just found stay as found until this call writes
    # them: a row that keeps its keys is updated through its id. Not when this call also
    # deletes, detaches or rekeys that row: those writes come first, and the two would differ.
    writes = _bind(conn.dialect, entity, latest, found, detach, now, conn.dialect.name == "sqlite")
    if writes.in_place and (drop or detach or writes.rekeyed):
        touched = {*drop, *detach, *(params["row_id"] for params in writes.rekeyed)}
        if not touched.isdisjoint(writes.in_place[:: len(_IN_PLACE_COLUMNS)]):
            writes = _bind(conn.dialect, entity, latest, found, detach, now, False)
    for part in chunks(drop):
        conn.execute(_DROP, {"p_ids": list(part)})
    for part in chunks(sorted(detach)):
        conn.execute(_DETACH, {"p_ids": list(part)})
    if writes.rekeyed:
        conn.execute(_REKEY, writes.rekeyed)
    columns = ("entity", *_COLUMNS)
    # An upsert on the primary key, of rows that exist: SQLite checks that key first and
    # updates the row, without looking up or rewriting the entries of the unique keys.
    insert_many(conn, synced, _IN_PLACE_COLUMNS, writes.in_place, keys=("id",), update=_IN_PLACE)
    update_cols = [c for c in _COLUMNS if c != "erp_key"]
    insert_many(
        conn, synced, columns, writes.with_erp, keys=("entity", "erp_key"), update=update_cols
    )
    update_cols = [c for c in _COLUMNS if c != "crm_key"]
    insert_many(
        conn, synced, columns, writes.crm_only, keys=("entity", "crm_key"), update=update_cols
    )


_IN_PLACE = ("state", "erp_modified", "crm_modified", "deleted", "updated_at")
"""What an update in place sets: a row updated through its id keeps its keys."""

_IN_PLACE_COLUMNS = ("id", "entity", *_COLUMNS)
"""The columns of a row updated in place: its id, then all an upsert on its keys gives."""


class _Writes:
    """A call's states bound for the driver, by how each reaches the table.

    Attributes:
        rekeyed: parameter sets of :data:`_REKEY`, for found rows that change keys.
        in_place: values of :data:`_IN_PLACE_COLUMNS` of found rows that keep their keys,
            row after row.
        with_erp: new rows, and rows that keep their keys when not updated in place: values
            of ``entity`` and :data:`_COLUMNS`, upserted on their ERP key.
        crm_only: the same, without an ERP key: upserted on their CRM key.
    """

    def __init__(self) -> None:
        self.rekeyed: list[dict[str, Any]] = []
        self.in_place: list[Any] = []
        self.with_erp: list[Any] = []
        self.crm_only: list[Any] = []


def _bind(
    dialect: sa.Dialect,
    entity: str,
    latest: Sequence[SyncedState],
    found: Sequence[_Row | None],
    detach: set[int],
    now: datetime,
    in_place: bool,
) -> _Writes:
    """Bind every state for its write; found rows that keep their keys go to
    :attr:`_Writes.in_place` when ``in_place``, else to the upserts on their keys."""
    bind = binds(dialect)
    instant, flag, updated_at = bind.instant, bind.flag, bind.instant(now)
    # A batch's states share their modified-at objects (one read's instant) and their
    # flags: each is bound once, not once per state (binding an instant formats it).
    false, true = flag(False), flag(True)
    last_erp: Any = None
    last_crm: Any = None
    erp_bound: Any = None
    crm_bound: Any = None
    writes = _Writes()
    rekeyed, by_id = writes.rekeyed.append, writes.in_place.extend
    with_erp, crm_only = writes.with_erp.extend, writes.crm_only.extend
    dumps = codec.dumps
    try:
        for state, row in zip(latest, found, strict=True):
            erp_key, crm_key = state.erp_key, state.crm_key
            encoded = dumps(state.values)
            if row is not None:
                row_id, row_erp, row_crm = row
                erp_key = erp_key or row_erp
                crm_key = crm_key or (None if row_id in detach else row_crm)
                if row_erp != erp_key or row_crm != crm_key:
                    rekeyed(
                        {
                            "row_id": row_id,
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
            flagged = false if deleted is False else true if deleted is True else flag(deleted)
            if in_place and row is not None:
                by_id(
                    (
                        row[0],
                        entity,
                        erp_key,
                        crm_key,
                        encoded,
                        erp_bound,
                        crm_bound,
                        flagged,
                        updated_at,
                    )
                )
            else:
                (with_erp if erp_key is not None else crm_only)(
                    (entity, erp_key, crm_key, encoded, erp_bound, crm_bound, flagged, updated_at)
                )
    except (TypeError, ValueError, AttributeError) as exc:
        raise _unstorable(state, exc) from exc
    return writes


def _match(
    conn: sa.Connection, entity: str, latest: Sequence[SyncedState]
) -> tuple[list[_Row | None], list[int], set[int]]:
    """The stored row of each state (``None`` for a new record), and the rows to delete or
    to strip of their CRM key because that key now belongs to another record."""
    by_erp = _by(conn, entity, "erp", [s.erp_key for s in latest if s.erp_key])
    # Only CRM keys not already found on their ERP row need a second look-up.
    unresolved = [
        s.crm_key
        for s in latest
        if s.crm_key and (s.erp_key not in by_erp or by_erp[s.erp_key][2] != s.crm_key)
    ]
    by_crm = _by(conn, entity, "crm", unresolved)
    drop: list[int] = []
    detach: set[int] = set()
    if not by_erp and not by_crm:  # all new, as in an initial load
        return [None] * len(latest), drop, detach
    found: list[_Row | None] = []
    for state in latest:
        row_e = by_erp.get(state.erp_key) if state.erp_key else None
        row_c = by_crm.get(state.crm_key) if state.crm_key else None
        if row_e is not None and row_c is not None and row_e[0] != row_c[0]:
            # The CRM key was saved alone before, or now belongs to this ERP record.
            if row_c[1] is None:
                drop.append(row_c[0])
            else:
                detach.add(row_c[0])
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
    removed = 0
    for part in chunks(unique(keys)):
        removed += conn.execute(_DELETE[side], {"p_entity": entity, "p_keys": list(part)}).rowcount
    return removed


# Built once with expanding parameters: an ``IN`` list built per call leaves a reference
# cycle (SQLAlchemy 2.1: each ``BindParameter`` is in its own ``_cloned_set``).
_IDS: sa.BindParameter[int] = sa.bindparam("p_ids", expanding=True)
_DROP = sa.delete(synced).where(synced.c.id.in_(_IDS))
_DETACH = sa.update(synced).where(synced.c.id.in_(_IDS)).values(crm_key=None)
_DELETE = {
    side: sa.delete(synced).where(
        synced.c.entity == sa.bindparam("p_entity"),
        synced.c[f"{side}_key"].in_(sa.bindparam("p_keys", expanding=True)),
    )
    for side in ("erp", "crm")
}


__all__ = ["delete", "load", "page", "save"]
