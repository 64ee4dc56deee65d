"""The end of a batch: commit its state, publish its events, or record a dry run.

The state of a batch is committed in one store transaction; events go out only after the
commit, so a rule never acts on a write that was rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from typing import Any

from tandem.config import Side, other
from tandem.connectors.base import Cursor, WriteOp, WriteOutcome
from tandem.pipeline.context import EntityContext
from tandem.pipeline.events import (
    BatchDone,
    ConflictRaised,
    EventBus,
    RecordDeadLettered,
    RecordSynced,
)
from tandem.pipeline.plan import Intent, RecordPlan, SourceRecord
from tandem.pipeline.report import PassReport, PlannedChange
from tandem.store import AuditEntry, StateStore, SyncedState


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
        dead: Sequence[DeadLetterNote],
        cursor: Cursor | None,
        new_links: Mapping[str, str],
    ) -> None:
        target = other(source)
        now = datetime.now(UTC)
        states: list[SyncedState] = []
        audits: list[AuditEntry] = []
        succeeded: list[str] = []
        links: list[tuple[str, str]] = []
        relinks: list[tuple[str, str]] = []
        with self.store.transaction():
            for pending in plans:
                plan, record = pending.plan, pending.record
                if pending.failed:
                    continue
                target_key = plan.partner
                if pending.outcome is not None and pending.outcome.key:
                    target_key = pending.outcome.key
                linked_now = record.key in new_links
                if plan.noop and plan.partner is not None and not plan.deleted and not linked_now:
                    self.report.add(ctx.name, source, "unchanged")
                    continue
                if target_key is not None:
                    link = (record.key, target_key) if source == "erp" else (target_key, record.key)
                    # A record brought back after its partner was deleted gets a new partner.
                    if plan.partner is not None and target_key != plan.partner:
                        relinks.append(link)
                    elif plan.partner is None or linked_now:
                        links.append(link)
                        self.report.add(ctx.name, source, "linked")
                erp_key, crm_key = pair(source, record.key, target_key)
                states.append(
                    SyncedState(
                        entity=ctx.name,
                        erp_key=erp_key,
                        crm_key=crm_key,
                        values=dict(plan.values),
                        erp_modified=record.modified_at if source == "erp" else None,
                        crm_modified=record.modified_at if source == "crm" else None,
                        deleted=plan.deleted,
                    )
                )
                succeeded.append(record.key)
                cause = f"{source}:{ctx.name}:{record.key}@{record.modified_at.isoformat()}"
                if plan.target is not None:
                    counter = counter_of(plan.target, pending.outcome)
                    self.report.add(ctx.name, source, counter)
                    audits.append(
                        AuditEntry(
                            flow=self.flow,
                            entity=ctx.name,
                            target=target,
                            record_key=target_key or "",
                            action=counter.removesuffix("d"),
                            before=_before(pending.base, plan.target),
                            after=dict(plan.target.values) if plan.target.values else None,
                            cause=cause,
                            at=now,
                        )
                    )
                if plan.revert is not None or pending.source_values:
                    if plan.revert is not None:
                        self.report.add(ctx.name, source, "reverted")
                    audits.append(
                        AuditEntry(
                            flow=self.flow,
                            entity=ctx.name,
                            target=source,
                            record_key=record.key,
                            action="revert" if plan.revert is not None else "link",
                            before=(
                                {k: record.values.get(k) for k in plan.revert.values}
                                if plan.revert is not None
                                else None
                            ),
                            after=dict(pending.source_values),
                            cause=cause,
                            at=now,
                        )
                    )
                for conflict in plan.conflicts:
                    self.store.add_conflict(
                        flow=self.flow,
                        entity=ctx.name,
                        erp_key=erp_key or "",
                        crm_key=crm_key,
                        field=conflict.field,
                        base_value=conflict.base,
                        erp_value=conflict.erp_value,
                        crm_value=conflict.crm_value,
                    )
                    self.report.add(ctx.name, source, "conflicts")
            if links:
                self.store.link_many(ctx.name, links)
            if relinks:
                self.store.link_many(ctx.name, relinks, replace=True)
            if states:
                self.store.save_synced(states)
            if audits:
                self.store.audit(audits)
            for note in dead:
                self.store.add_dead_letter(
                    flow=self.flow,
                    entity=ctx.name,
                    side=note.side,
                    record_key=note.key,
                    message=note.message,
                    field=note.field,
                    value=note.value,
                    code=note.code,
                    payload=dict(note.payload),
                )
            self.report.add(ctx.name, source, "dead_lettered", len(dead))
            # A write-back that failed leaves its letter open although the record's state is
            # committed: the target has the record, the source lacks the target's key.
            still_dead = {note.key for note in dead}
            resolved = [key for key in succeeded if key not in still_dead]
            if resolved:
                self.store.resolve_dead_letters(self.flow, ctx.name, source, resolved)
            if cursor is not None:
                self.store.set_cursor(self.flow, ctx.name, source, cursor)

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
                        values=dict(plan.values),
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


def _before(base: Mapping[str, Any] | None, intent: Intent) -> dict[str, Any] | None:
    """The agreed values an intent overwrites (None for a record new to the target)."""
    if base is None or intent.action == "create":
        return None
    if intent.action in ("delete", "flag"):
        return dict(base)
    return {name: base.get(name) for name in intent.values}


def pair(source: Side, key: str, partner: str | None) -> tuple[str | None, str | None]:
    """(erp_key, crm_key) from a source key and its partner."""
    return (key, partner) if source == "erp" else (partner, key)


def counter_of(intent: Intent, outcome: WriteOutcome | None) -> str:
    if intent.action in ("delete", "flag"):
        return "deleted"
    if intent.action == "create" and (outcome is None or outcome.created):
        return "created"
    return "updated"


__all__ = ["BatchCommitter", "DeadLetterNote", "PendingRecord", "counter_of", "pair"]
