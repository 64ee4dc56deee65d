"""One batch of source changes through map -> plan -> deliver -> commit.

The state of a batch (links, agreed values, audit, dead letters, cursor) is committed in one
store transaction, and only after the target confirmed the writes. A crash before the commit
re-reads the same changes next time; every write is an idempotent upsert keyed by the other
system's ID, so the re-run writes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tandem.config import Side
from tandem.connectors.base import Change, Cursor, WriteOp, WriteOutcome
from tandem.errors import MappingError
from tandem.mapping import Mapper, NativeValidator
from tandem.mapping.mapper import NativeWriter
from tandem.pipeline.contested import read_contested
from tandem.pipeline.context import EntityContext, Systems
from tandem.pipeline.createonly import CreateOnly, create_only, leave_out_unchanged, read_partners
from tandem.pipeline.deliver import Collect, Handover, submit
from tandem.pipeline.events import (
    EventBus,
)
from tandem.pipeline.guard import guarded
from tandem.pipeline.matching import MatchIndex, claim_named, owed_keys
from tandem.pipeline.merges import Merges
from tandem.pipeline.outcome import BatchCommitter, DeadLetterNote, PendingRecord
from tandem.pipeline.plan import (
    Intent,
    SourceRecord,
    other,
    plan_record,
)
from tandem.pipeline.refs import CRM_PREFIX, StoreRefResolver
from tandem.pipeline.report import PassReport
from tandem.pipeline.tried import TriedVersions
from tandem.pipeline.writeback import WriteBack, write_back
from tandem.store import StateStore, SyncedState

log = logging.getLogger(__name__)

PENDING_REF = "(created earlier in this pass)"
"""What a reference to a record not yet linked shows in a dry run."""


@dataclass(slots=True)
class PreparedBatch:
    """A planned batch, ready for delivery."""

    ctx: EntityContext
    source: Side
    plans: list[PendingRecord]
    dead: list[DeadLetterNote]
    ops: list[WriteOp]
    new_links: dict[str, str]
    cursor: Cursor | None
    keys: frozenset[str]


class BatchProcessor:
    """Runs batches of one flow."""

    def __init__(
        self,
        *,
        flow: str,
        store: StateStore,
        systems: Systems,
        mapper: Mapper,
        bus: EventBus,
        report: PassReport,
        dry_run: bool = False,
    ) -> None:
        self.flow = flow
        self.store = store
        self.systems = systems
        self.mapper = mapper
        self.bus = bus
        self.report = report
        self.dry_run = dry_run
        self.planned: set[tuple[str, str]] = set()
        """In a dry run: (entity, canonical reference) of the records planned to be created."""
        self.refs = StoreRefResolver(store, placeholder=PENDING_REF, planned=self.planned)
        self.committer = BatchCommitter(flow=flow, store=store, bus=bus, report=report)
        self._handing: Handover | None = None
        self._tried = TriedVersions(dry_run=dry_run)
        """The versions this pass tried (see :class:`TriedVersions`)."""
        self._merges = Merges(flow, store, systems)

    async def process(
        self,
        ctx: EntityContext,
        source: Side,
        changes: Sequence[Change],
        *,
        cursor: Cursor | None,
        matches: MatchIndex | None = None,
        queued: bool = False,
    ) -> None:
        """Sync one batch of changes read from ``source``; advance the cursor to ``cursor``.

        ``queued``: the records come from the work queue (see :meth:`prepare`).
        """
        prepared = await self.prepare(
            ctx, source, changes, cursor=cursor, matches=matches, queued=queued
        )
        if prepared is not None:
            await self.finish(prepared)

    async def prepare(
        self,
        ctx: EntityContext,
        source: Side,
        changes: Sequence[Change],
        *,
        cursor: Cursor | None,
        matches: MatchIndex | None = None,
        queued: bool = False,
    ) -> PreparedBatch | None:
        """Map, link and plan a batch; nothing is written (``None`` in a dry run: recorded).

        The engine may prepare the next batch while the previous one is being delivered, as
        long as the two share no record.

        ``queued``: the records come from the work queue; they are tried whatever this pass
        tried before, and a read of the same version later in the pass (by the capture) is
        left out: each record is tried once per pass. In a dry run the same holds for every
        record it planned something for.
        """
        target = other(source)
        latest: dict[str, Change] = {}
        for change in changes:
            latest[change.key] = change
        if self._tried and not queued:
            self._tried.skip(ctx.name, source, latest)
        keys = list(latest)
        self.report.add(ctx.name, source, "read", len(keys))
        self.refs.forget()
        self.refs.prefetch_rows(ctx.spec, source, (c.fields for c in latest.values()))

        partners = self.store.partners(ctx.name, source, keys)
        bases = self.store.synced(ctx.name, source, keys)
        if self.mapper.scaled(ctx.spec):
            bases = self._fit_bases(ctx, bases)
        if source == "crm":
            await self._merges.look_up(ctx, latest, partners, bases)
        dead: list[DeadLetterNote] = []
        records: list[SourceRecord] = []
        for change in latest.values():
            if change.key == "":
                # a text key may be '': no link, state or external ID can name such a record
                dead.append(_note(source, change, _empty_key(ctx, source)))
                continue
            if change.deleted:
                records.append(
                    SourceRecord(
                        change.key,
                        {},
                        change.modified_at,
                        deleted=True,
                        merged_into=change.merged_into,
                    )
                )
                continue
            try:
                values = self.mapper.to_canonical(
                    ctx.spec, source, change.fields, change.key, self.refs
                )
            except MappingError as exc:
                dead.append(_note(source, change, exc))
                continue
            records.append(SourceRecord(change.key, values, change.modified_at))

        new_links: dict[str, str] = {}
        if matches is not None:
            for record in records:
                if record.deleted or record.key in partners:
                    continue
                found = matches.claim(record.values)
                if found is not None:
                    partners[record.key] = found
                    new_links[record.key] = found
        claims = await claim_named(self.store, self.systems, ctx, source, latest, partners)
        new_links.update(claims.links)

        currents, blind = await read_contested(
            self.systems, self.mapper, self.refs, ctx, source, records, partners, bases
        )
        if blind:
            dead.extend(blind)
            skipped = {note.key for note in blind}
            records = [record for record in records if record.key not in skipped]
        held = self._held(ctx, source, records, partners)
        plans: list[PendingRecord] = []
        for record in records:
            base = bases.get(record.key)
            plan = plan_record(
                ctx.rules,
                source,
                record,
                base=base.values if base is not None else None,
                base_deleted=base.deleted if base is not None else False,
                partner=partners.get(record.key),
                current=currents.get(record.key),
                held=held.get(record.key, frozenset()),
            )
            agreed = base.values if base is not None else None
            pending = PendingRecord(plan, record, agreed, current=currents.get(record.key))
            if plan.revert is not None:  # what a guarded revert expects (writeback.py)
                pending.native = latest[record.key].fields
            plans.append(pending)

        if source == "crm":
            dead.extend(self._merges.letters(ctx, plans))
        else:
            dead.extend(self._merges.hold(ctx, plans, again=queued))
        fixed = create_only(ctx, target)
        partner_values = await read_partners(self.systems, ctx, fixed, plans) if fixed else {}
        ops = self._target_ops(ctx, target, plans, dead, fixed, partner_values)
        ops += owed_keys(ctx, target, plans, claims.owed)
        self._tried.note(ctx.name, source, latest, plans, dead, every=queued)
        if self.dry_run:
            for pending in plans:
                if pending.plan.target is not None and pending.plan.target.action == "create":
                    key = pending.record.key
                    self.planned.add((ctx.name, key if source == "erp" else CRM_PREFIX + key))
            for key, partner in new_links.items():  # what a sync would commit, referred to
                erp_key, crm_key = (key, partner) if source == "erp" else (partner, key)
                self.refs.plan_link(ctx.name, erp_key, crm_key)
            self.committer.record_dry_run(ctx, source, target, plans, dead)
            return None
        return PreparedBatch(ctx, source, plans, dead, ops, new_links, cursor, frozenset(keys))

    async def finish(self, batch: PreparedBatch) -> None:
        """Deliver a prepared batch, write back to its source, commit, publish."""
        collect = await self.submit(batch)
        await self.settle(batch, await collect())

    async def submit(self, batch: PreparedBatch) -> Collect:
        """Hand a prepared batch's writes to the target; collect the outcomes later.

        The hand-over runs on while the caller goes on (commits the batch before, plans the
        next), so its round trips cost no time of Tandem's own. Hand-overs stay one at a
        time and in order: this one starts once the one before it is done, and a failed one
        raises here (as well as from its collect), before a later batch is handed over.
        """
        before, self._handing = self._handing, None
        if before is not None:
            await before.handed()
        target = other(batch.source)
        handover = await submit(
            self.systems.of(target), batch.ctx.bindings[target], batch.ops, self.report
        )
        self._handing = handover
        return handover

    async def settle(self, batch: PreparedBatch, outcomes: Sequence[WriteOutcome]) -> None:
        """With the target's outcomes: write back to the source, commit, publish."""
        ctx, source, plans, dead = batch.ctx, batch.source, batch.plans, batch.dead
        by_ref = {o.ref: o for o in outcomes}
        for pending in plans:
            op = pending.target_op
            if op is None:
                continue
            pending.outcome = by_ref.get(op.ref)
            outcome = pending.outcome
            if outcome is not None and outcome.changed:
                # its guard failed: not written, planned again (outcome.BatchCommitter)
                pending.failed = pending.changed = True
                continue
            if outcome is None or not outcome.ok:
                pending.failed = True
                error = outcome.error if outcome is not None else None
                dead.append(
                    DeadLetterNote(
                        source,
                        pending.record.key,
                        str(error) if error else "the target gave no answer for this record",
                        field=error.field if error else None,
                        value=error.value if error else None,
                        code=error.code if error else None,
                        payload=dict(pending.plan.values),
                    )
                )
        await self._write_back(ctx, source, plans, batch.new_links, dead)
        # On a worker thread: the event loop stays free for the hand-over in flight (its
        # round trips), and the database's own work runs beside Tandem's (SQLite and the
        # drivers release the GIL). Nothing else uses the store until the commit is done.
        await asyncio.to_thread(
            self.committer.commit, ctx, source, plans, dead, batch.cursor, batch.new_links
        )
        await self.committer.publish(ctx, source, plans, dead, len(batch.keys))

    # -- steps -----------------------------------------------------------------------------

    def _fit_bases(
        self, ctx: EntityContext, bases: Mapping[str, SyncedState]
    ) -> dict[str, SyncedState]:
        """``bases`` with each number kept to its field's places, as a read keeps it.

        An agreed state saved before the fields' scales were known (an earlier release) holds
        the ERP's ``12.345`` where a read now gives ``12.35``: compared as it is, the CRM's
        record would look edited and be reverted once.
        """
        fitted: dict[str, SyncedState] = {}
        for key, base in bases.items():
            values = self.mapper.fit_scales(ctx.spec, base.values)
            fitted[key] = base if values is base.values else replace(base, values=dict(values))
        return fitted

    def _held(
        self,
        ctx: EntityContext,
        source: Side,
        records: Sequence[SourceRecord],
        partners: Mapping[str, str],
    ) -> dict[str, frozenset[str]]:
        """Fields of each record that wait for a person to resolve a conflict."""
        if ctx.spec.conflict != "manual":
            return {}
        erp_keys = {(r.key if source == "erp" else partners.get(r.key)): r.key for r in records}
        erp_keys.pop(None, None)
        open_fields = self.store.open_conflict_fields(
            self.flow, ctx.name, [k for k in erp_keys if k is not None]
        )
        return {erp_keys[k]: frozenset(v) for k, v in open_fields.items() if k in erp_keys}

    def _target_ops(
        self,
        ctx: EntityContext,
        target: Side,
        plans: Sequence[PendingRecord],
        dead: list[DeadLetterNote],
        fixed: CreateOnly | None = None,
        partner_values: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[WriteOp]:
        """Turn the planned intents for ``target`` into native write ops; bad values dead-letter.

        ``fixed``: the fields ``target`` sets only on create; an update leaves out those its
        partner holds already (``partner_values``: partner key -> native values, as read),
        and one that would change them is dead-lettered (:mod:`~tandem.pipeline.createonly`).
        """
        source = other(target)
        schema = ctx.schemas.get(target)
        validate = NativeValidator(schema).validate if schema is not None else None
        ops: list[WriteOp] = []
        if any(p.plan.target is not None for p in plans):
            self._prefetch_refs_canonical(ctx, target, plans)
        # the entity's write plan, looked up once for the batch
        write = self.mapper.native_writer(ctx.spec, target)
        for pending in plans:
            intent = pending.plan.target
            if intent is None:
                continue
            key = pending.record.key
            try:
                op = self._native_op(ctx, target, intent, key, write)
                if fixed is not None and op.key is not None:
                    found = (partner_values or {}).get(op.key)
                    op = leave_out_unchanged(op, fixed, found, key)
                if validate is not None and op.action != "delete":
                    checked = op.values
                    if PENDING_REF in checked.values():
                        checked = {k: v for k, v in checked.items() if v != PENDING_REF}
                    validate(key, checked, op.action == "upsert")
            except MappingError as exc:
                dead.append(
                    DeadLetterNote(
                        source,
                        key,
                        str(exc),
                        field=exc.field,
                        value=exc.value,
                        code=exc.code,
                        payload=dict(pending.plan.values),
                    )
                )
                pending.plan.target = None
                pending.failed = True
                continue
            op = guarded(ctx.spec, ctx.rules, target, intent, op, pending.current)
            pending.target_op = op
            ops.append(op)
        return ops

    def _prefetch_refs_canonical(
        self, ctx: EntityContext, target: Side, plans: Sequence[PendingRecord]
    ) -> None:
        for spec in ctx.spec.fields:
            if not spec.ref:
                continue
            values = [
                str(p.plan.target.values[spec.field])
                for p in plans
                if p.plan.target is not None and p.plan.target.values.get(spec.field)
            ]
            erp_keys = [v for v in values if not v.startswith("crm:")]
            if target == "crm":
                self.refs.prefetch(spec.ref, "erp", erp_keys)

    def _native_op(
        self, ctx: EntityContext, side: Side, intent: Intent, ref: str, write: NativeWriter
    ) -> WriteOp:
        """The native write of one intent (``write``: the entity's ``Mapper.native_writer``)."""
        action = intent.action
        if action == "create" or action == "update":
            values = write(intent.values, intent.values, ref, self.refs)
            external_id = ctx.bindings[side].external_id
            if external_id:
                values[external_id] = ref
            if action == "create":
                # a record created or brought back on a flagged side is not deleted there
                if (clear := ctx.spec.delete.clears(side)) is not None:
                    values.setdefault(*clear)
                return WriteOp("upsert", ref, values, match=ref if external_id else None)
            return WriteOp("update", ref, values, key=intent.key)
        if action == "flag" and (flag := ctx.flag(side)) is not None:
            return WriteOp("update", ref, {flag[0]: flag[1]}, key=intent.key)
        return WriteOp("delete", ref, key=intent.key)  # a delete, or a flag with no flag field

    async def _write_back(
        self,
        ctx: EntityContext,
        source: Side,
        plans: Sequence[PendingRecord],
        new_links: Mapping[str, str],
        dead: list[DeadLetterNote],
    ) -> None:
        """Reverts of fields the source does not own, and the target's key in the source
        (:func:`~tandem.pipeline.writeback.write_back`)."""
        helper = WriteBack(self.systems, self.mapper, self.refs, self.report)
        await write_back(helper, ctx, source, plans, new_links, dead)


def _empty_key(ctx: EntityContext, side: Side) -> MappingError:
    binding = ctx.bindings[side]
    return MappingError(
        f"the {side.upper()} record's key ({binding.source}.{binding.key}) is empty: it cannot "
        "be linked, so it is not synced; give the row a non-empty key",
        record="''",
        field=binding.key,
        value="",
    )


def _note(side: Side, change: Change, exc: MappingError) -> DeadLetterNote:
    return DeadLetterNote(
        side,
        change.key,
        str(exc),
        field=exc.field,
        value=exc.value,
        code=exc.code,
        payload=dict(change.fields),
    )


__all__ = ["PENDING_REF", "BatchProcessor", "PreparedBatch"]
