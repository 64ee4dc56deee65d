"""Apply a person's decision on a conflict: write the chosen value to both systems.

``--erp`` and ``--crm`` mean the value that system holds *now*: both records are read
afresh when the conflict is resolved, so an edit made while the field was held (a later
ERP edit, say) is what gets written, not the value stored when the conflict was raised.

Nothing is written before both records have been read: when one of them is gone (deleted
since the conflict was raised) there is nothing left to reconcile, and the conflict is closed
as moot (resolution ``deleted``) without a write. The system that takes a new value is
written first and the one that keeps its own value last, so that a refusal (a validation
rule, a constraint) most likely comes before anything was written; a refusal after the first
write is reported naming what was written, and the conflict stays open. A typed ``--value``
is taken as its field's type (:mod:`tandem.pipeline.chosen`), kept to the fields' decimal
places as a read would give it, so the agreed state holds what both systems then hold.

Dropping a conflict writes nothing, but it does move the agreed state: each system's value
of the field, as listed with the conflict, counts as seen (the field is kept apart,
:mod:`tandem.pipeline.apart`). Left as it was, the agreed value would have both systems
changed against it at the next re-read, and the same conflict would be raised again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tandem.config import Side, other
from tandem.connectors.base import WriteOp
from tandem.errors import RecordRejected, TandemError
from tandem.mapping import values_equal
from tandem.pipeline.apart import agree, keep_apart
from tandem.pipeline.chosen import typed_choice
from tandem.pipeline.context import EntityContext
from tandem.pipeline.current import current_values
from tandem.pipeline.engine import Engine
from tandem.pipeline.refs import StoreRefResolver
from tandem.store import AuditEntry, Conflict, StateStore

Resolution = Literal["erp", "crm", "value"]

SIDE_NAMES: dict[Side, str] = {"erp": "ERP", "crm": "CRM"}
BOTH: tuple[Side, Side] = ("erp", "crm")


class NotResolvable(TandemError):
    """The conflict cannot be resolved as asked: the flow has no such conflict, it is closed
    already, or the chosen system's value of the field cannot be read. Nothing was written."""


class PartialResolution(TandemError):
    """A resolution wrote one system and the other refused: the conflict stays open.

    Attributes:
        written: the system that was written (and its record key).
        refused: the system that refused.
    """

    def __init__(self, message: str, *, written: tuple[Side, str], refused: Side) -> None:
        super().__init__(message)
        self.written = written
        self.refused = refused


@dataclass(frozen=True)
class Resolved:
    """What :func:`apply_resolution` did.

    Attributes:
        conflict: the conflict as closed (``resolution`` is ``deleted`` when it was moot).
        gone: the systems whose record no longer exists (the conflict was then closed
            without a write).
        changed: per system, ``(value when raised, value now)`` where the system's value
            of the field changed after the conflict was raised.
    """

    conflict: Conflict
    gone: tuple[Side, ...] = ()
    changed: dict[Side, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Dropped:
    """What :func:`drop_conflicts` did.

    Attributes:
        dropped: the conflicts closed now.
        closed: the conflicts that were closed already (left as they are).
        unknown: ids the flow has no conflict under.
    """

    dropped: list[Conflict]
    closed: list[Conflict]
    unknown: list[int]


def _open_conflict(store: StateStore, flow: str, conflict_id: int) -> Conflict:
    conflict = store.conflict(conflict_id)
    if conflict is None or conflict.flow != flow:
        raise NotResolvable(f"flow {flow} has no conflict {conflict_id}")
    if conflict.status != "open":
        raise NotResolvable(
            f"conflict {conflict_id} ({conflict.entity} {conflict.erp_key}, field "
            f"{conflict.field}) is already closed ({conflict.resolution})"
        )
    return conflict


async def apply_resolution(
    engine: Engine, conflict_id: int, resolution: Resolution, value: Any = None
) -> Resolved:
    """Write the chosen value of conflict ``conflict_id`` to both systems and close it.

    ``erp`` and ``crm`` take the value that system holds now (read afresh); ``value`` takes
    ``value``. When the record is gone from either system, the conflict is closed as moot
    (resolution ``deleted``) and nothing is written.

    Raises:
        NotResolvable: no such open conflict, or the chosen system's value cannot be read;
            nothing was written.
        ConfigError: a bad ``value``; nothing was written.
        RecordRejected: the first system written refused; nothing was written.
        PartialResolution: the first system was written, the second refused; the conflict
            stays open (resolving it again is safe).
    """
    store = engine.store
    flow = engine.flow.name
    conflict = _open_conflict(store, flow, conflict_id)
    ctx = engine.context(conflict.entity)
    name = conflict.field
    keys: dict[Side, str | None] = {"erp": conflict.erp_key, "crm": conflict.crm_key}
    stored: dict[Side, Any] = {"erp": conflict.erp_value, "crm": conflict.crm_value}
    typed: Any = None
    if resolution == "value":
        typed = engine.mapper.fit_scales(ctx.spec, {name: typed_choice(ctx, conflict, value)})[name]

    # read both records before writing anything
    now = (await current_values(engine, [conflict]))[conflict.id]
    gone = tuple(s for s in BOTH if now[s].state == "gone")
    current: dict[Side, Any] = {s: now[s].value for s in BOTH if now[s].state == "value"}
    if gone:
        return Resolved(_close_moot(store, conflict, gone, current), gone=gone)

    changed = {
        side: (stored[side], now)
        for side, now in current.items()
        if not values_equal(now, stored[side])
    }
    if resolution == "value":
        chosen = typed
    else:
        if resolution not in current:
            unread = now[resolution]
            why = f" ({unread.message})" if unread.state == "unreadable" else ""
            raise NotResolvable(
                f"the {SIDE_NAMES[resolution]}'s current value of {name} cannot be read"
                f"{why}; fix it there, or resolve with --value"
            )
        chosen = current[resolution]

    # every native value before any write: a mapping error writes nothing
    refs = StoreRefResolver(store)
    order: list[Side] = ["crm", "erp"] if resolution == "value" else [other(resolution), resolution]
    ops: list[tuple[Side, str, dict[str, Any]]] = []
    for side in order:
        key = keys[side]
        if key is None:
            continue
        native = engine.mapper.to_native(ctx.spec, side, {name: chosen}, [name], key, refs)
        if native:
            ops.append((side, key, native))

    held: dict[Side, Any] = {side: current.get(side, stored[side]) for side in BOTH}
    cause = f"conflict:{conflict.id}:{resolution}"
    written: list[tuple[Side, str]] = []
    for side, key, native in ops:
        outcomes = await engine.systems.of(side).write_batch(
            ctx.bindings[side], [WriteOp("update", key, native, key=key)]
        )
        if outcomes and outcomes[0].ok:
            written.append((side, key))
            continue
        error = outcomes[0].error if outcomes else None
        refusal: TandemError = (
            error
            if error is not None
            else RecordRejected("no answer", system=side, operation="resolve conflict", record=key)
        )
        if not written:
            raise refusal
        _audit_writes(store, flow, ctx, written, name, held, chosen, cause + ":partial")
        first, first_key = written[0]
        raise PartialResolution(
            f"conflict {conflict.id}: {ctx.name}.{name} = {chosen!r} was written to the "
            f"{SIDE_NAMES[first]} ({first_key}), but the {SIDE_NAMES[side]} refused it "
            f"({refusal}); the conflict stays open: fix the {SIDE_NAMES[side]} record "
            f"{key}, then resolve it again",
            written=written[0],
            refused=side,
        ) from refusal

    with store.transaction():
        # record the values resolved against, then close: --erp/--crm keep the fresh one
        store.add_conflict(
            flow=flow,
            entity=ctx.name,
            erp_key=conflict.erp_key,
            crm_key=conflict.crm_key,
            field=name,
            base_value=conflict.base_value,
            erp_value=held["erp"],
            crm_value=held["crm"],
            erp_modified=now["erp"].modified_at or conflict.erp_modified,
            crm_modified=now["crm"].modified_at or conflict.crm_modified,
        )
        states = store.synced(ctx.name, "erp", [conflict.erp_key])
        state = states.get(conflict.erp_key)
        if state is not None:
            state.values = agree(state.values, name, chosen)
            store.save_synced([state])
        # one entry per system written: the value that system held, and the chosen one
        _audit_writes(store, flow, ctx, written, name, held, chosen, cause)
        done = store.resolve_conflict(conflict.id, resolution, chosen)
    return Resolved(done, changed=changed)


def _audit_writes(
    store: StateStore,
    flow: str,
    ctx: EntityContext,
    written: Sequence[tuple[Side, str]],
    name: str,
    held: dict[Side, Any],
    chosen: Any,
    cause: str,
) -> None:
    store.audit(
        [
            AuditEntry(
                flow=flow,
                entity=ctx.name,
                target=side,
                record_key=key,
                action="resolve",
                before={name: held[side]},
                after={name: chosen},
                cause=cause,
            )
            for side, key in written
        ]
    )


def _close_moot(
    store: StateStore,
    conflict: Conflict,
    gone: Sequence[Side],
    current: dict[Side, Any],
) -> Conflict:
    """Close a conflict whose record is gone from ``gone``: nothing is written."""
    entries = _closing(
        conflict,
        "close",
        "deleted",
        {side: None if side in gone else {conflict.field: current.get(side)} for side in BOTH},
    )
    with store.transaction():
        store.audit(entries)
        return store.resolve_conflict(conflict.id, "deleted")


def _closing(
    conflict: Conflict,
    action: str,
    resolution: str,
    before: Mapping[Side, dict[str, Any] | None],
) -> list[AuditEntry]:
    """An audit entry for each record of a conflict closed without a write (``before``: what
    each system held, as far as known)."""
    keys: dict[Side, str | None] = {"erp": conflict.erp_key, "crm": conflict.crm_key}
    return [
        AuditEntry(
            flow=conflict.flow,
            entity=conflict.entity,
            target=side,
            record_key=key,
            action=action,
            before=before[side],
            after=None,
            cause=f"conflict:{conflict.id}:{resolution}",
        )
        for side in BOTH
        if (key := keys[side]) is not None
    ]


def drop_conflicts(store: StateStore, flow: str, ids: Sequence[int]) -> Dropped:
    """Close the open conflicts among ``ids`` without writing anything (resolution ``dropped``).

    Each one dropped gets an audit entry per record (action ``drop``, the value stored for
    that system as ``before``), and its field is kept apart in the record's agreed state at
    those two values, so that they are not a conflict again. Conflicts closed already are left
    as they are; ids the flow has no conflict under are reported, not an error here.
    """
    dropped: list[Conflict] = []
    closed: list[Conflict] = []
    unknown: list[int] = []
    with store.transaction():
        for conflict_id in dict.fromkeys(ids):
            conflict = store.conflict(conflict_id)
            if conflict is None or conflict.flow != flow:
                unknown.append(conflict_id)
                continue
            if conflict.status != "open":
                closed.append(conflict)
                continue
            held: dict[Side, Any] = {"erp": conflict.erp_value, "crm": conflict.crm_value}
            before = {side: {conflict.field: held[side]} for side in BOTH}
            store.audit(_closing(conflict, "drop", "dropped", before))
            _keep_apart(store, conflict)
            dropped.append(store.resolve_conflict(conflict.id, "dropped"))
    return Dropped(dropped, closed, unknown)


def _keep_apart(store: StateStore, conflict: Conflict) -> None:
    """Record in the agreed state that each system's value of the dropped conflict's field
    was seen: a re-read of either is no change, a later edit of one is synced by the policy.

    The values are those listed with the conflict: an edit made while the field was held is
    a later edit. A record with no agreed state (unlinked since) has nothing to keep.
    """
    state = store.synced(conflict.entity, "erp", [conflict.erp_key]).get(conflict.erp_key)
    if state is None or state.deleted:
        return
    state.values = keep_apart(
        state.values, conflict.field, erp=conflict.erp_value, crm=conflict.crm_value
    )
    store.save_synced([state])


__all__ = [
    "Dropped",
    "NotResolvable",
    "PartialResolution",
    "Resolution",
    "Resolved",
    "apply_resolution",
    "drop_conflicts",
]
