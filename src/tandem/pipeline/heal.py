"""Healing for reconcile: drifted records queued for the next pass, a batch at a time.

Healing forgets what makes a drifted record pass for synced (the link of a record missing on
one side, the versions synced of a differing pair) and queues it, so the next pass rewrites
it by the normal rules (ownership, conflict policy), never by a side channel. Each batch is
one transaction of a few bulk statements: a reconcile killed midway leaves whole batches
queued, and the next one finds the rest again (a record already pending is not queued twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tandem.config import Side
from tandem.pipeline.context import EntityContext
from tandem.pipeline.engine import Engine
from tandem.pipeline.recheck import Drift
from tandem.store import SyncedState

_MISSING_IN_ERP = ("missing_in_erp", "orphan_in_crm")


def queue_heal(engine: Engine, ctx: EntityContext, drifts: Sequence[Drift]) -> list[Drift]:
    """Forget what makes the drifted records of one batch pass for synced and queue them for
    the next pass; the drifts queued (those of ``ctx``'s entity; an unmappable record, a
    record gone from both systems and a CRM record the flow does not read are not)."""
    store = engine.store
    entity = ctx.name
    missing_crm = [d for d in drifts if d.kind == "missing_in_crm" and d.erp_key is not None]
    missing_erp = [d for d in drifts if d.kind in _MISSING_IN_ERP and d.crm_key is not None]
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
        # missing in the CRM: only found when the flow reads the ERP (erp_alone), so queued
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
        for (side, reason), keys in queue.items():
            store.enqueue(
                flow=engine.flow.name, entity=entity, side=side, record_keys=keys, reason=reason
            )
    return [*missing_crm, *(missing_erp if ctx.reads("crm") else ()), *differs]


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


__all__ = ["forget_gone", "queue_heal"]
