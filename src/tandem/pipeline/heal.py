"""Healing for reconcile: drifted records queued for the next pass, a batch at a time.

Healing forgets what makes a drifted record pass for synced (the link of a record missing on
one side, the versions synced of a differing pair) and queues it, so the next pass rewrites
it by the normal rules (ownership, conflict policy), never by a side channel. A linked record
whose partner is gone is a delete made on the partner's side and not synced yet (the change
stream not read since, or a source that shows no hard deletes): where the entity takes its
deletes from that side, the gone partner's key is queued as it is, linked, so the pass reads
it gone and carries the delete by the entity's delete policy, as it carries a captured one.
Only where that side is no source of the entity's deletes is the record created there again.
Each batch is one transaction of a few bulk statements: a reconcile killed midway leaves whole
batches queued, and the next one finds the rest again (a record already pending is not queued
twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem.config import SIDES, Side, other
from tandem.pipeline.context import EntityContext
from tandem.pipeline.engine import Engine
from tandem.pipeline.recheck import Drift, DriftKind
from tandem.store import SyncedState

_MISSING_IN_ERP = ("missing_in_erp", "orphan_in_crm")


def queue_heal(engine: Engine, ctx: EntityContext, drifts: Sequence[Drift]) -> list[Drift]:
    """Forget what makes the drifted records of one batch pass for synced and queue them for
    the next pass; the drifts queued (those of ``ctx``'s entity; an unmappable record, a
    record gone from both systems and a CRM record the flow does not read are not). A delete
    not synced yet (:func:`unsynced_deletes`) keeps its link and state: the pass syncs it."""
    store = engine.store
    entity = ctx.name
    deletes = unsynced_deletes(engine, ctx, drifts)
    missing_crm = [
        d
        for d in drifts
        if d.kind == "missing_in_crm" and d.erp_key is not None and id(d) not in deletes
    ]
    missing_erp = [
        d
        for d in drifts
        if d.kind in _MISSING_IN_ERP and d.crm_key is not None and id(d) not in deletes
    ]
    differs = [d for d in drifts if d.kind == "differs" and d.erp_key and d.crm_key]
    agreed: dict[str, dict[str, Any]] = {
        k: s.values
        for k, s in store.synced(entity, "erp", [d.erp_key or "" for d in differs]).items()
        if not s.deleted
    }
    queue: dict[tuple[Side, str], list[str]] = {}

    def add(side: Side, reason: str, keys: list[str]) -> None:
        if keys and ctx.reads(side):
            queue.setdefault((side, reason), []).extend(keys)

    with store.transaction():
        erp_keys = [d.erp_key or "" for d in missing_crm]
        store.unlink_many(entity, "erp", [d.erp_key or "" for d in missing_crm if d.crm_key])
        store.save_synced([SyncedState(entity, k, None, {}, None, None) for k in erp_keys])
        # missing in the CRM and no CRM delete: the flow reads the ERP (erp_alone), so queued
        if erp_keys:
            queue[("erp", "reconcile: missing in crm")] = erp_keys
        store.unlink_many(entity, "crm", [d.crm_key or "" for d in missing_erp if d.erp_key])
        add("crm", "reconcile: missing in erp", [d.crm_key or "" for d in missing_erp])
        # The agreed values stay: they tell the side that changed from the side that did
        # not (the pass carries the change over, whatever the clocks say); only a field
        # changed in both is a conflict for the policy. The versions synced go, so neither
        # record passes for one already synced.
        store.save_synced(
            [
                SyncedState(
                    entity, d.erp_key, d.crm_key, agreed.get(d.erp_key or "", {}), None, None
                )
                for d in differs
            ]
        )
        add("erp", "reconcile: values differ", [d.erp_key or "" for d in differs])
        add("crm", "reconcile: values differ", [d.crm_key or "" for d in differs])
        # deleted on one side: the gone record, still linked, is read gone by the pass
        for drift, side in deletes.values():
            add(side, f"reconcile: deleted in {side}", [_key(drift, side)])
        for (side, reason), keys in queue.items():
            store.enqueue(
                flow=engine.flow.name, entity=entity, side=side, record_keys=keys, reason=reason
            )
    return [
        *missing_crm,
        *(missing_erp if ctx.reads("crm") else ()),
        *differs,
        *(drift for drift, _ in deletes.values()),
    ]


def unsynced_deletes(
    engine: Engine, ctx: EntityContext, drifts: Sequence[Drift]
) -> dict[int, tuple[Drift, Side]]:
    """Of one batch's drifts, the deletes not synced yet, by ``id`` of the drift: each with
    the side its record was deleted on.

    A record still linked whose partner is gone was deleted on the partner's side. When the
    entity takes deletes from that side (its direction reads that side), healing is the sync
    of that delete, by the entity's delete policy: re-creating the partner would undo it (a
    new record under a new key, the delete left with nothing to delete). When it does not
    (the side is only written: the other system is the master), the record is not one of
    these and is created there again.
    """
    found: dict[int, tuple[Drift, Side]] = {}
    for side in SIDES:
        gone = [
            d
            for d in drifts
            if d.kind == _GONE_FROM[side] and d.erp_key and d.crm_key and ctx.reads(side)
        ]
        if not gone:
            continue
        # linked, as the scan found it: not the unlinked half of a pair (a CRM record
        # that carries the ERP id of a record linked to nothing)
        kept = other(side)
        links = engine.store.partners(ctx.name, kept, [_key(d, kept) for d in gone])
        found.update((id(d), (d, side)) for d in gone if links.get(_key(d, kept)) == _key(d, side))
    return found


_GONE_FROM: dict[Side, DriftKind] = {"erp": "missing_in_erp", "crm": "missing_in_crm"}
"""The kind of drift of a linked record whose partner is gone, by the side it is gone from."""


def _key(drift: Drift, side: Side) -> str:
    """The drift's key on ``side``."""
    return (drift.erp_key if side == "erp" else drift.crm_key) or ""


def forget_gone(engine: Engine, ctx: EntityContext, drifts: Sequence[Drift]) -> int:
    """Forget the links, and their synced versions, of the records of one batch gone from both
    systems (as a synced delete forgets its link); how many. Nothing is left to write or to
    check again."""
    gone = [d for d in drifts if d.kind == "gone_both_sides" and d.erp_key and d.crm_key]
    if not gone:
        return 0
    store = engine.store
    erp_keys = [d.erp_key or "" for d in gone]
    with store.transaction():
        store.unlink_many(ctx.name, "erp", erp_keys)
        store.delete_synced(ctx.name, "erp", erp_keys)
        store.delete_synced(ctx.name, "crm", [d.crm_key or "" for d in gone])
    return len(gone)


__all__ = ["forget_gone", "queue_heal", "unsynced_deletes"]
