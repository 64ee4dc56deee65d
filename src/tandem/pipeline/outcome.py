"""The end of a batch: commit its state, publish its events, or record a dry run.

The state of a batch is committed in one store transaction; events go out only after the
commit, so a rule never acts on a write that was rolled back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from tandem import codec
from tandem.config import Side, other
from tandem.connectors.base import Cursor, WriteOp, WriteOutcome
from tandem.errors import LinkClash
from tandem.pipeline.apart import canonical
from tandem.pipeline.context import EntityContext
from tandem.pipeline.events import (
    BatchDone,
    ConflictRaised,
    EventBus,
    RecordDeadLettered,
    RecordSynced,
)
from tandem.pipeline.guard import COUNTER as CHANGED_MEANWHILE
from tandem.pipeline.guard import REQUEUE_REASON
from tandem.pipeline.plan import FieldConflict, Intent, RecordPlan, SourceRecord, TargetRecord
from tandem.pipeline.report import PassReport, PlannedChange
from tandem.store import AuditEntry, StateStore, SyncedState

NOTHING: Mapping[str, Any] = MappingProxyType({})
"""An empty mapping no one can change, shared as a default."""

LINK_CLASH = "LINK_CLASH"
"""Dead-letter code of a record the target matched to a partner linked to another record."""

MERGED_IN_CRM = "MERGED_IN_CRM"
"""Dead-letter code of an ERP record whose CRM partner was merged into another CRM record:
kept, unlinked and held (never created in the CRM) while its letter is open or retrying."""


@dataclass(slots=True)
class DeadLetterNote:
    """A record that goes to the dead-letter queue instead of the target."""

    side: Side
    key: str
    message: str
    field: str | None = None
    value: Any = None
    code: str | None = None
    payload: Mapping[str, Any] = dc_field(default_factory=dict)


@dataclass(slots=True)
class PendingRecord:
    """A planned record on its way through delivery."""

    plan: RecordPlan
    record: SourceRecord
    base: Mapping[str, Any] | None = None
    target_op: WriteOp | None = None
    outcome: WriteOutcome | None = None
    source_values: dict[str, Any] = dc_field(default_factory=dict)
    failed: bool = False
    current: TargetRecord | None = None
    """The target's record as read for planning (a field both may edit changed)."""
    changed: bool = False
    """Its guarded write found the target changed since that read: nothing was written, and
    the record is queued to be planned again (failed too, but no dead letter)."""
    native: Mapping[str, Any] = dc_field(default_factory=lambda: NOTHING)
    """The source record's native fields as read, kept for a record with a revert (what a
    guarded revert expects)."""
    linked_back: dict[str, Any] = dc_field(default_factory=dict)
    """Of :attr:`source_values`, the partner's key written into the source's external-id
    field (its native name), when a revert carried it along."""
    revert_dropped: bool = False
    """Its guarded revert found the source changed since it was read: not made; the record
    is committed (the target was written) and queued to be planned again."""


class BatchCommitter:
    """Commits, publishes or records (dry run) the outcome of batches of one flow."""

    def __init__(self, *, flow: str, store: StateStore, bus: EventBus, report: PassReport) -> None:
        self.flow = flow
        self.store = store
        self.bus = bus
        self.report = report

    def commit(
        self,
        ctx: EntityContext,
        source: Side,
        plans: Sequence[PendingRecord],
        dead: list[DeadLetterNote],
        cursor: Cursor | None,
        new_links: Mapping[str, str],
    ) -> None:
        """Commit a settled batch in one transaction; count it in the report.

        A record whose new link would take a key linked to another record is failed and
        its letter added to ``dead`` (see :meth:`_refuse_clashes`).
        """
        entity = ctx.name
        now = datetime.now(UTC)
        writes = _collect(self.flow, entity, source, plans, new_links, now)
        try:
            self._write(entity, source, writes, dead, cursor)
        except LinkClash:
            refused = self._refuse_clashes(entity, source, plans, writes.links)
            if not refused:
                raise
            dead.extend(refused)
            gone = {note.key for note in refused}
            new_links = {k: v for k, v in new_links.items() if k not in gone}
            writes = _collect(self.flow, entity, source, plans, new_links, now)
            self._write(entity, source, writes, dead, cursor)
        # Counted once committed (this may run on a worker thread: the report locks).
        for counter, n in writes.counts.items():
            self.report.add(entity, source, counter, n)
        self.report.add(ctx.name, source, "dead_lettered", len(dead))
        if writes.again:
            self.report.add(ctx.name, source, CHANGED_MEANWHILE, len(writes.again))

    def _refuse_clashes(
        self,
        entity: str,
        source: Side,
        plans: Sequence[PendingRecord],
        links: Sequence[tuple[str, str]],
    ) -> list[DeadLetterNote]:
        """Fail the records whose new link would take a key linked to another record.

        The target matched such a record to one already linked elsewhere: an external ID
        that matches without regard to case (``abc`` renamed ``ABC`` in the ERP), or one set
        by hand on another record. Linking it would leave two records on one partner; the
        record is dead-lettered instead, and the rest of the batch commits.
        """
        clashes = self.store.link_clashes(entity, links)
        target = other(source)
        notes: dict[str, DeadLetterNote] = {}
        for (erp_key, crm_key), (held_erp, held_crm) in clashes.items():
            key = erp_key if source == "erp" else crm_key
            mine, theirs = (crm_key, held_erp) if source == "erp" else (erp_key, held_crm)
            notes[key] = DeadLetterNote(
                source,
                key,
                f"the {target} matched this record to {target} record {mine}, which is linked "
                f"to record {theirs} already (an external ID matched without regard to case, "
                "or set by hand on another record); put the keys right, then retry",
                field=None,
                value=mine,
                code=LINK_CLASH,
            )
        for pending in plans:
            if pending.record.key in notes:
                pending.failed = True
        return list(notes.values())

    def _write(
        self,
        entity: str,
        source: Side,
        writes: _Writes,
        dead: Sequence[DeadLetterNote],
        cursor: Cursor | None,
    ) -> None:
        """One transaction: conflicts, links (made and dropped), states, audit, letters, the
        cursor."""
        with self.store.transaction():
            for erp_key, crm_key, conflict in writes.conflicts:
                self.store.add_conflict(
                    flow=self.flow,
                    entity=entity,
                    erp_key=erp_key or "",
                    crm_key=crm_key,
                    field=conflict.field,
                    base_value=conflict.base,
                    erp_value=conflict.erp_value,
                    crm_value=conflict.crm_value,
                )
            if writes.links:
                self.store.link_many(entity, writes.links)
            if writes.relinks:
                self.store.link_many(entity, writes.relinks, replace=True)
            if writes.unlinks:
                # the delete's tombstone (its state, below) keeps both keys for the echoes
                self.store.unlink_many(entity, source, writes.unlinks)
            if writes.merged:
                # a merge's loser: its partner's next link is a first one, against no state
                self.store.unlink_many(entity, source, writes.merged)
                self.store.delete_synced(entity, source, writes.merged)
            # A created record's state and audit entry share one dict: encode it once.
            with codec.encode_once():
                if writes.states:
                    self.store.save_synced(writes.states)
                if writes.audits:
                    self.store.audit(writes.audits)
            for note in dead:
                self.store.add_dead_letter(
                    flow=self.flow,
                    entity=entity,
                    side=note.side,
                    record_key=note.key,
                    message=note.message,
                    field=note.field,
                    value=note.value,
                    code=note.code,
                    payload=dict(note.payload),
                )
            # A write-back that failed leaves its letter open although the record's state is
            # committed: the target has the record, the source lacks the target's key.
            still_dead = {note.key for note in dead}
            resolved = [key for key in writes.succeeded if key not in still_dead]
            if resolved:
                self.store.resolve_dead_letters(self.flow, entity, source, resolved)
            if writes.again:
                # guarded writes whose target changed meanwhile: read and planned again
                self.store.enqueue(
                    flow=self.flow,
                    entity=entity,
                    side=source,
                    record_keys=writes.again,
                    reason=REQUEUE_REASON.format(target=other(source).upper()),
                )
            if cursor is not None:
                self.store.set_cursor(self.flow, entity, source, cursor)

    async def publish(
        self,
        ctx: EntityContext,
        source: Side,
        plans: Sequence[PendingRecord],
        dead: Sequence[DeadLetterNote],
        read: int,
    ) -> None:
        target = other(source)
        written = sum(1 for p in plans if not p.failed and p.plan.target is not None)
        if self.bus.active:
            for pending in plans:
                plan = pending.plan
                if pending.failed:
                    continue
                target_key = pending.outcome.key if pending.outcome else plan.partner
                erp_key, crm_key = pair(source, plan.key, target_key)
                for conflict in plan.conflicts:
                    await self.bus.publish(
                        ConflictRaised(
                            ctx.name,
                            erp_key,
                            crm_key,
                            conflict.field,
                            conflict.erp_value,
                            conflict.crm_value,
                        )
                    )
                if plan.target is None:
                    continue
                await self.bus.publish(
                    RecordSynced(
                        entity=ctx.name,
                        source=source,
                        target=target,
                        erp_key=erp_key,
                        crm_key=crm_key,
                        action=plan.target.action if plan.target.action != "flag" else "delete",
                        changed=plan.changed,
                        values=canonical(plan.values),
                    )
                )
            for note in dead:
                await self.bus.publish(
                    RecordDeadLettered(ctx.name, note.side, note.key, note.field, note.message)
                )
        await self.bus.publish(
            BatchDone(
                ctx.name,
                source,
                read=read,
                written=written,
                skipped=sum(1 for p in plans if p.plan.noop),
                failed=len(dead),
            )
        )

    def record_dry_run(
        self,
        ctx: EntityContext,
        source: Side,
        target: Side,
        plans: Sequence[PendingRecord],
        dead: Sequence[DeadLetterNote],
    ) -> None:
        for pending in plans:
            plan = pending.plan
            if pending.failed:
                continue
            for intent in (plan.target, plan.revert):
                if intent is None:
                    continue
                self.report.planned.append(
                    PlannedChange(
                        entity=ctx.name,
                        source=source,
                        target=intent.side,
                        source_key=plan.key,
                        target_key=intent.key,
                        action=intent.action,
                        fields=dict(intent.values),
                    )
                )
                for name in intent.values:
                    self.report.field_changes[(ctx.name, intent.side, name)] += 1
                counter = counter_of(intent, None) if intent.side == target else "reverted"
                self.report.add(ctx.name, source, counter)
            if plan.noop and not plan.deleted:
                self.report.add(ctx.name, source, "unchanged")
            self.report.add(ctx.name, source, "conflicts", len(plan.conflicts))
        self.report.add(ctx.name, source, "dead_lettered", len(dead))


@dataclass(slots=True)
class _Writes:
    """What the commit of one batch writes, gathered before the store is touched."""

    states: list[SyncedState] = dc_field(default_factory=list)
    audits: list[AuditEntry] = dc_field(default_factory=list)
    links: list[tuple[str, str]] = dc_field(default_factory=list)
    relinks: list[tuple[str, str]] = dc_field(default_factory=list)
    unlinks: list[str] = dc_field(default_factory=list)
    """Source keys whose link goes: their delete left the record in neither system."""
    merged: list[str] = dc_field(default_factory=list)
    """Source keys of records merged into another: their link and agreed state go."""
    conflicts: list[tuple[str | None, str | None, FieldConflict]] = dc_field(default_factory=list)
    succeeded: list[str] = dc_field(default_factory=list)
    again: list[str] = dc_field(default_factory=list)
    """Source keys whose guarded write found the target changed: queued to be planned again."""
    counts: Counter[str] = dc_field(default_factory=Counter)
    """Report counter -> how many, in the order first counted."""


def _collect(
    flow: str,
    entity: str,
    source: Side,
    plans: Sequence[PendingRecord],
    new_links: Mapping[str, str],
    now: datetime,
) -> _Writes:
    """The links, states, audit entries and conflicts of a batch's records that went through.

    The states and audit entries share the plans' value dicts instead of copying them: the
    store only encodes them.
    """
    target = other(source)
    from_erp = source == "erp"
    cause_prefix = f"{source}:{entity}:"
    writes = _Writes()
    counts = writes.counts
    add_state, add_audit = writes.states.append, writes.audits.append
    add_link, add_relink = writes.links.append, writes.relinks.append
    add_succeeded = writes.succeeded.append
    # The records of one read share their modified-at object (one ERP statement's instant):
    # its text for the causes is made once per object, not once per record.
    stamp: datetime | None = None
    stamp_text = ""
    for pending in plans:
        if pending.failed or pending.revert_dropped:
            if pending.changed or pending.revert_dropped:
                writes.again.append(pending.record.key)
            if pending.failed:
                continue
        plan, record, outcome = pending.plan, pending.record, pending.outcome
        key, partner = record.key, plan.partner
        if plan.merged_into is not None:
            # nothing written anywhere: the partner waits for a person (MERGED_IN_CRM)
            writes.merged.append(key)
            add_succeeded(key)
            continue
        target_key = outcome.key if outcome is not None and outcome.key else partner
        linked_now = key in new_links
        if (
            partner is not None
            and not linked_now
            and plan.noop
            and not plan.deleted
            and not plan.converged
        ):
            counts["unchanged"] += 1
            # Back at the agreed values (its bad value put right where it was made): a letter
            # it left behind has nothing more to wait for.
            add_succeeded(key)
            continue
        erp_key, crm_key = (key, target_key) if from_erp else (target_key, key)
        if plan.unlinks:
            writes.unlinks.append(key)
        elif target_key is not None:
            link = (key, target_key) if from_erp else (target_key, key)
            # A record brought back after its partner was deleted gets a new partner.
            if partner is not None and target_key != partner:
                add_relink(link)
            elif partner is None or linked_now:
                add_link(link)
                counts["linked"] += 1
        modified = record.modified_at
        add_state(
            SyncedState(
                entity,
                erp_key,
                crm_key,
                plan.values,
                modified if from_erp else None,
                None if from_erp else modified,
                plan.deleted,
            )
        )
        add_succeeded(key)
        if plan.converged and plan.noop:
            counts["unchanged"] += 1  # nothing written: the agreed values caught up
        if modified is not stamp:
            stamp, stamp_text = modified, modified.isoformat()
        cause = f"{cause_prefix}{key}@{stamp_text}"
        intent = plan.target
        if intent is not None:
            counter = counter_of(intent, outcome)
            counts[counter] += 1
            values = intent.values
            base = pending.base
            action = _ACTIONS[counter]
            after = (values if type(values) is dict else dict(values)) if values else None
            op = pending.target_op
            if intent.action == "flag" and op is not None and op.action == "update":
                # the delete policy set its flag field (ctx.flag) instead of deleting
                action, after = "flag", dict(op.values)
            add_audit(
                AuditEntry(
                    flow,
                    entity,
                    target,
                    target_key or "",
                    action,
                    None if base is None else _before(base, intent, pending.current),
                    after,
                    cause,
                    now,
                )
            )
        elif pending.target_op is not None:
            # the key a claimed partner was owed (matching.owed_keys), written alone
            add_audit(
                AuditEntry(
                    flow,
                    entity,
                    target,
                    target_key or "",
                    "link",
                    None,
                    dict(pending.target_op.values),
                    cause,
                    now,
                )
            )
        revert = plan.revert if not pending.revert_dropped else None
        linked_back = pending.source_values
        if revert is not None:
            counts["reverted"] += 1
            # canonical names on both sides, as every other audit entry has them
            before = {k: record.values.get(k) for k in revert.values}
            after = dict(revert.values)
            add_audit(AuditEntry(flow, entity, source, key, "revert", before, after, cause, now))
            linked_back = pending.linked_back
        if linked_back:
            written = dict(linked_back)
            add_audit(AuditEntry(flow, entity, source, key, "link", None, written, cause, now))
        conflicts = plan.conflicts
        if conflicts:
            for conflict in conflicts:
                writes.conflicts.append((erp_key, crm_key, conflict))
            counts["conflicts"] += len(conflicts)
    if new_links:
        _keep_matches(writes, source, plans, new_links)
    return writes


def _keep_matches(
    writes: _Writes, source: Side, plans: Sequence[PendingRecord], new_links: Mapping[str, str]
) -> None:
    """Link the records a match found whose write did not go through, without a state.

    The match (a tax ID, an e-mail, the record's own external ID) holds whatever became of
    the write: a record refused by the target, or whose partner could not be read, is still
    that partner's. Left unlinked, its next try (a retry, an edit) would find no match (the
    target is indexed only before the first load) and create it a second time; and its
    partner, once read, would be created in the source beside it. With the link and no
    agreed state, the next plan of either is a first link's again.
    """
    through = {p.record.key for p in plans if not p.failed}
    for key, target_key in new_links.items():
        if key not in through:
            writes.links.append((key, target_key) if source == "erp" else (target_key, key))


_ACTIONS = {"created": "create", "updated": "update", "deleted": "delete"}
"""The audit action of each report counter :func:`counter_of` gives."""


def _before(
    base: Mapping[str, Any] | None, intent: Intent, current: TargetRecord | None = None
) -> dict[str, Any] | None:
    """The values an intent overwrites (None for a record new to the target): as the target
    held them where it was read for planning (``current``: a field both systems may edit, so
    an edit the write replaces is on record), else the values agreed with it last."""
    if base is None or intent.action == "create":
        return None
    held = base if current is None else {**base, **current.values}
    if intent.action in ("delete", "flag"):
        return canonical(held)
    return {name: held.get(name) for name in intent.values}


def pair(source: Side, key: str, partner: str | None) -> tuple[str | None, str | None]:
    """(erp_key, crm_key) from a source key and its partner."""
    return (key, partner) if source == "erp" else (partner, key)


def counter_of(intent: Intent, outcome: WriteOutcome | None) -> str:
    if intent.action in ("delete", "flag"):
        return "deleted"
    if intent.action == "create" and (outcome is None or outcome.created):
        return "created"
    return "updated"


__all__ = [
    "LINK_CLASH",
    "MERGED_IN_CRM",
    "BatchCommitter",
    "DeadLetterNote",
    "PendingRecord",
    "counter_of",
    "pair",
]
