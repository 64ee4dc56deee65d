"""One batch of source changes through map -> plan -> deliver -> commit.

The state of a batch (links, agreed values, audit, dead letters, cursor) is committed in one
store transaction, and only after the target confirmed the writes. A crash before the commit
re-reads the same changes next time; every write is an idempotent upsert keyed by the other
system's ID, so the re-run writes nothing twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tandem.codec import dumps
from tandem.config import Side
from tandem.connectors.base import Change, Cursor, MergeLookup, WriteOp, WriteOutcome
from tandem.errors import MappingError
from tandem.mapping import Mapper, NativeValidator
from tandem.mapping.mapper import NativeWriter
from tandem.pipeline.contested import read_contested
from tandem.pipeline.context import EntityContext, Systems
from tandem.pipeline.deliver import Collect, Handover, submit
from tandem.pipeline.events import (
    EventBus,
)
from tandem.pipeline.guard import guarded
from tandem.pipeline.matching import MatchIndex, claim_named, owed_keys
from tandem.pipeline.outcome import MERGED_IN_CRM, BatchCommitter, DeadLetterNote, PendingRecord
from tandem.pipeline.plan import (
    Intent,
    SourceRecord,
    other,
    plan_record,
)
from tandem.pipeline.refs import CRM_PREFIX, StoreRefResolver
from tandem.pipeline.report import PassReport
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
        self._tried: dict[tuple[str, Side, str], _Version] = {}
        """(entity, side, key) -> the version of the record this pass tried: the work queue's
        records, and in a dry run the records it planned a write (or a letter) for. A later
        read of the same version in the pass is not tried again (see :meth:`_skip_tried`)."""

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
            self._skip_tried(ctx.name, source, latest)
        keys = list(latest)
        self.report.add(ctx.name, source, "read", len(keys))
        self.refs.forget()
        self.refs.prefetch_rows(ctx.spec, source, (c.fields for c in latest.values()))

        partners = self.store.partners(ctx.name, source, keys)
        bases = self.store.synced(ctx.name, source, keys)
        if self.mapper.scaled(ctx.spec):
            bases = self._fit_bases(ctx, bases)
        if source == "crm":
            await self._look_up_merges(ctx, latest, partners, bases)
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
            dead.extend(self._merge_letters(ctx, plans))
        else:
            dead.extend(self._hold_merged(ctx, plans, again=queued))
        ops = self._target_ops(ctx, target, plans, dead)
        ops += owed_keys(ctx, target, plans, claims.owed)
        self._note_tried(ctx.name, source, latest, plans, dead, every=queued)
        if self.dry_run:
            for pending in plans:
                if pending.plan.target is not None and pending.plan.target.action == "create":
                    key = pending.record.key
                    self.planned.add((ctx.name, key if source == "erp" else CRM_PREFIX + key))
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

    def _skip_tried(self, entity: str, source: Side, latest: dict[str, Change]) -> None:
        """Leave out of ``latest`` the records this pass tried already in the version read now.

        A record the work queue brought (a dead letter retried, a reconcile heal) often comes
        through the capture of the same pass too: tried again, a refused one would be
        dead-lettered twice (its attempts counted twice). A dry run, which commits nothing,
        would plan a record read again (a row whose earlier change-log entries the overlap
        window re-reads, each joined to the row as it is now) against state that ``sync``
        would have moved on by then: one delete listed twice. A version that differs (the
        record changed since it was tried) is tried.
        """
        tried = self._tried
        again = [
            key
            for key, change in latest.items()
            if (seen := tried.get((entity, source, key))) is not None and seen.same(change)
        ]
        for key in again:
            del latest[key]

    def _note_tried(
        self,
        entity: str,
        source: Side,
        latest: Mapping[str, Change],
        plans: Sequence[PendingRecord],
        dead: Sequence[DeadLetterNote],
        *,
        every: bool,
    ) -> None:
        """Remember the versions of the records of a batch as tried in this pass.

        ``every``: all of them (the work queue's). Else those dead-lettered (a refused
        version read again by a later batch would be refused again, its letter's attempts
        counted twice), and in a dry run also those planned a write, a revert or a conflict
        (a sync commits those, so a later read plans nothing for them; a dry run does not).
        A record that needs nothing plans nothing when read again, and is not kept in memory.

        Every other record of the batch forgets what was remembered of it: only its latest
        version may be left out when read again. A record tried as A, then synced as B, then
        read as A again (changed back) is a change to carry, not a repeat.
        """
        keys: Iterable[str] = latest
        if not every:
            keys = {n.key for n in dead}
            if self.dry_run:
                keys |= {p.record.key for p in plans if not p.plan.noop}
        tried = self._tried
        remembered = set(keys)
        if tried:
            for key in latest:
                if key not in remembered:
                    tried.pop((entity, source, key), None)
        for key in remembered:
            change = latest.get(key)
            if change is not None:
                tried[(entity, source, key)] = _Version.of(change)

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

    async def _look_up_merges(
        self,
        ctx: EntityContext,
        latest: dict[str, Change],
        partners: Mapping[str, str],
        bases: Mapping[str, SyncedState],
    ) -> None:
        """Ask the CRM which of the linked records read as plain deletes a merge deleted.

        A delete may come without saying (``getDeleted``; a record the work queue, a retry
        or a reconcile heal, found gone); carried to the ERP as a delete it would delete or
        archive a customer the CRM only merged. Only deletes that would reach a partner are
        asked about: one call per batch that has such deletes, none otherwise.
        """
        connector = self.systems.of("crm")
        if not isinstance(connector, MergeLookup):
            return
        keys = [
            key
            for key, change in latest.items()
            if change.deleted
            and change.merged_into is None
            and key in partners
            and not ((base := bases.get(key)) is not None and base.deleted)
        ]
        if not keys:
            return
        found = await connector.merged_into(ctx.bindings["crm"], keys)
        for key, master in found.items():
            if key in latest:
                latest[key] = replace(latest[key], merged_into=master)

    def _merge_letters(
        self, ctx: EntityContext, plans: Sequence[PendingRecord]
    ) -> list[DeadLetterNote]:
        """A ``MERGED_IN_CRM`` letter for the ERP partner of each CRM record merged away.

        The partner is not deleted, archived or flagged: it holds what the loser's ERP
        customer holds (orders, invoices), which a merge of two CRM duplicates says nothing
        about. A person merges it in the ERP, or links it to the master.
        """
        merged = [p.plan for p in plans if p.plan.merged_into is not None]
        if not merged:
            return []
        masters = self.store.partners(ctx.name, "crm", [p.merged_into or "" for p in merged])
        notes: list[DeadLetterNote] = []
        for plan in merged:
            master, erp_key = plan.merged_into or "", plan.partner or ""
            message = _merged_message(ctx, plan.key, master, erp_key, masters.get(master))
            notes.append(
                DeadLetterNote(
                    "erp",
                    erp_key,
                    message,
                    value=master,
                    code=MERGED_IN_CRM,
                    payload=dict(plan.values),
                )
            )
        return notes

    def _hold_merged(
        self, ctx: EntityContext, plans: Sequence[PendingRecord], *, again: bool
    ) -> list[DeadLetterNote]:
        """Hold back the ERP records a ``MERGED_IN_CRM`` letter waits on, that would be
        created in the CRM: that would bring back the duplicate the CRM's users merged away.

        Held, a record writes nothing and commits no state: its values are sent whole once
        it is linked. ``again``: the records come from the work queue (the letter retried):
        a held one's letter is open again, one attempt more; a read by the capture (an edit,
        or the overlap window re-reading) leaves the letter as it is.

        A record linked since (to the master, by a person) goes through and resolves its
        letter; one deleted in the ERP does too. A dropped letter holds nothing: the record
        syncs as one of its own again.
        """
        creating = {
            p.record.key: p
            for p in plans
            if p.plan.target is not None and p.plan.target.action == "create"
        }
        if not creating:
            return []
        letters = {
            letter.record_key: letter
            for status in ("open", "retrying")
            for letter in self.store.dead_letters(
                flow=self.flow, status=status, entity=ctx.name, code=MERGED_IN_CRM, limit=1_000_000
            )
            if letter.side == "erp" and letter.record_key in creating
        }
        notes: list[DeadLetterNote] = []
        for key, letter in letters.items():
            pending = creating[key]
            if again:
                notes.append(
                    DeadLetterNote(
                        "erp",
                        key,
                        letter.message,
                        value=letter.value,
                        code=MERGED_IN_CRM,
                        payload=dict(pending.plan.values),
                    )
                )
            pending.plan.target = None
            pending.failed = True
        return notes

    def _target_ops(
        self,
        ctx: EntityContext,
        target: Side,
        plans: Sequence[PendingRecord],
        dead: list[DeadLetterNote],
    ) -> list[WriteOp]:
        """Turn the planned intents for ``target`` into native write ops; bad values dead-letter."""
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


@dataclass(frozen=True, slots=True)
class _Version:
    """A version of a record as read: deleted, or a fingerprint of its native fields.

    A fingerprint (a 16-byte digest of the fields' encoding) keeps a dry run over a large
    initial load small: only the fields' values that the codec cannot encode are kept as
    they are. Two reads whose fields encode differently (another key order, ``10`` against
    ``10.0``) count as two versions: the record is tried again, as before this was kept.
    """

    deleted: bool
    fingerprint: object

    @classmethod
    def of(cls, change: Change) -> _Version:
        """The version ``change`` reads."""
        if change.deleted:
            return cls(True, None)
        return cls(False, _fingerprint(change.fields))

    def same(self, change: Change) -> bool:
        """Whether ``change`` reads this version again."""
        if change.deleted or self.deleted:
            return change.deleted == self.deleted
        return _fingerprint(change.fields) == self.fingerprint


def _fingerprint(fields: Mapping[str, Any]) -> object:
    try:
        text = dumps(dict(fields))
    except (TypeError, ValueError):
        return dict(fields)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _empty_key(ctx: EntityContext, side: Side) -> MappingError:
    binding = ctx.bindings[side]
    return MappingError(
        f"the {side.upper()} record's key ({binding.source}.{binding.key}) is empty: it cannot "
        "be linked, so it is not synced; give the row a non-empty key",
        record="''",
        field=binding.key,
        value="",
    )


def _merged_message(
    ctx: EntityContext, loser: str, master: str, erp_key: str, master_partner: str | None
) -> str:
    """What a ``MERGED_IN_CRM`` letter tells a person: what happened and what to do."""
    crm, erp = ctx.bindings["crm"], ctx.bindings["erp"]
    head = (
        f"{ctx.name}: the CRM merged {crm.source} {loser} into {master}; ERP record "
        f"{erp_key} ({erp.source}), linked to {loser}, is kept as it is (not deleted, archived "
        "or flagged), now linked to no CRM record, and is not created in the CRM again while "
        "this letter is open. "
    )
    if master_partner is not None:
        todo = (
            f"{master} is linked to ERP record {master_partner}: merge ERP record {erp_key} "
            f"into {master_partner} in the ERP (move what refers to it, then delete or archive "
            f"{erp_key})"
        )
    elif erp.external_id:
        todo = (
            f"{master} is linked to no ERP record: link ERP record {erp_key} to it (set its "
            f"{erp.external_id} to {master}), or merge {erp_key} in the ERP into the record "
            f"that is {master}'s"
        )
    else:
        todo = (
            f"{master} is linked to no ERP record: link ERP record {erp_key} to it (set "
            f"{crm.external_id or 'the external ID'} of {master} to {erp_key}), or merge "
            f"{erp_key} in the ERP into the record that is {master}'s"
        )
    return (
        head
        + todo
        + "; then retry this letter. Dropping it lets ERP record "
        + f"{erp_key} sync as a record of its own: its next change creates it in the CRM."
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
