"""The write-back to a batch's source: reverts of fields it does not own, and its partner's key.

A revert of a field both systems may edit (the target's value won a conflict) overwrites the
source's value read for the batch; it is guarded like a write to the target
(:mod:`.guard`): made only if the source still holds what was read. A source edit made in
between is kept: the revert is dropped (not counted, not audited), the partner's key, if it
was part of the same write, goes alone, and the record is queued to be planned again (its
new value then goes to the target as any edit does).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tandem.config import Side
from tandem.connectors.base import WriteGuard, WriteOp, WriteOutcome
from tandem.errors import MappingError
from tandem.mapping import Mapper
from tandem.pipeline.context import EntityContext, Systems
from tandem.pipeline.deliver import deliver
from tandem.pipeline.outcome import DeadLetterNote, PendingRecord
from tandem.pipeline.refs import StoreRefResolver
from tandem.pipeline.report import PassReport

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteBack:
    """What a write-back needs of the batch processor."""

    systems: Systems
    mapper: Mapper
    refs: StoreRefResolver
    report: PassReport


async def write_back(
    wb: WriteBack,
    ctx: EntityContext,
    source: Side,
    plans: Sequence[PendingRecord],
    new_links: Mapping[str, str],
    dead: list[DeadLetterNote],
) -> None:
    """Reverts of fields the source does not own, and the target's key in the source."""
    binding = ctx.bindings[source]
    ops: list[WriteOp] = []
    by_key: dict[str, PendingRecord] = {}
    for pending in plans:
        if pending.failed:
            continue
        values: dict[str, Any] = {}
        guard: WriteGuard | None = None
        revert = pending.plan.revert
        if revert is not None:
            try:
                reverted = wb.mapper.to_native(
                    ctx.spec,
                    source,
                    revert.values,
                    list(revert.values),
                    pending.record.key,
                    wb.refs,
                )
            except MappingError as exc:
                log.warning("cannot revert %s %s: %s", ctx.name, pending.record.key, exc)
            else:
                values.update(reverted)
                guard = _revert_guard(ctx, source, revert.values, reverted, pending)
        outcome = pending.outcome
        target_intent = pending.plan.target
        created = (
            outcome is not None
            and outcome.ok
            and target_intent is not None
            and target_intent.action == "create"
        )
        partner = new_links.get(pending.record.key)
        if partner is None and pending.base is None and not pending.plan.deleted:
            # linked by a match whose write failed (outcome._keep_matches): the key is owed yet
            partner = pending.plan.partner
        if binding.external_id and (created or partner is not None):
            target_key = outcome.key if outcome is not None and outcome.key else partner
            if target_key:
                values[binding.external_id] = target_key
                pending.linked_back = {binding.external_id: target_key}
        if values:
            pending.source_values = values
            key = pending.record.key
            ops.append(WriteOp("update", key, values, key=key, guard=guard))
            by_key[key] = pending
    if not ops:
        return
    outcomes = await deliver(wb.systems.of(source), binding, ops, wb.report)
    keys_alone = _changed(ctx, source, outcomes, by_key)
    if keys_alone:
        outcomes = await deliver(wb.systems.of(source), binding, keys_alone, wb.report)
    for outcome in outcomes:
        if not outcome.ok and not outcome.changed:
            dead.append(
                DeadLetterNote(
                    source,
                    outcome.ref,
                    f"write-back failed: {outcome.error}",
                    field=outcome.error.field if outcome.error else None,
                    value=outcome.error.value if outcome.error else None,
                    code=outcome.error.code if outcome.error else None,
                )
            )


def _changed(
    ctx: EntityContext,
    source: Side,
    outcomes: Sequence[WriteOutcome],
    by_key: Mapping[str, PendingRecord],
) -> list[WriteOp]:
    """Drop the reverts whose source changed since it was read; the keys they carried, to
    be written alone."""
    external_id = ctx.bindings[source].external_id
    alone: list[WriteOp] = []
    for outcome in outcomes:
        pending = by_key.get(outcome.ref)
        if not outcome.changed or pending is None:
            continue
        sent, pending.source_values = pending.source_values, {}
        pending.revert_dropped = True  # counted and queued again by the commit
        if external_id and external_id in sent:
            pending.source_values = {external_id: sent[external_id]}
            key = pending.record.key
            alone.append(WriteOp("update", key, dict(pending.source_values), key=key))
    return alone


def _revert_guard(
    ctx: EntityContext,
    source: Side,
    canonical: Mapping[str, Any],
    native: Mapping[str, Any],
    pending: PendingRecord,
) -> WriteGuard | None:
    """The guard of a revert over fields both systems may edit: the source's values read."""
    read = pending.native
    expected: dict[str, Any] = {}
    for field in ctx.spec.fields:
        if field.field not in canonical or ctx.rules.owner_of(field.field) != "both":
            continue
        name = field.native(source)
        if name is not None and name in native and name in read:
            expected[name] = read[name]
    if not expected:
        return None
    return WriteGuard(expected, pending.record.modified_at)


__all__ = ["WriteBack", "write_back"]
