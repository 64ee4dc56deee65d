"""Reconcile: compare both systems record by record, report drift, optionally heal it.

The CRM side is streamed first and kept only as a hash of each record's comparable canonical
values, in a temporary file (:class:`~tandem.pipeline.spill.Spill`: memory does not grow with
the record count); the ERP side is then streamed against it. Records whose hashes differ are
re-read in batches to name the differing fields. An unlinked CRM record carrying the ERP id of
a record linked to another CRM record is a duplicate (``duplicate_in_crm``), left to a person.
Healing forgets the link or the synced versions of drifted records (keeping the agreed values
of a differing pair, which tell the side that changed from the side that did not) and queues
them, so the next pass rewrites them by the normal rules (ownership, conflict policy), never
by a side channel; a linked record whose partner is gone is a delete not synced yet, queued
gone and linked so the pass carries it by the delete policy (:mod:`tandem.pipeline.heal`);
then it reads the queued records again
from both systems (:func:`~tandem.pipeline.recheck.recheck`, the same comparison) and counts
as unrepaired each that still differs, is still missing on one side, or is held by an open
dead letter or conflict.

A link whose records are gone from both systems (both deleted while nothing watched) is read
by neither scan: when the links outnumber the linked ERP records read, the links are paged
and those whose records are missing on both sides are reported (``gone_both_sides``);
healing forgets such a link and its synced versions, as a synced delete forgets its link, so
a record created again under the same key is synced as a new one.

Memory does not grow with the drift either: a report lists the first :data:`DETAIL_LIMIT`
drifts and counts the rest. What must outlive a batch (the differing pairs whose fields are
named once the scan is done, the unlinked ERP records waiting for a CRM record carrying their
id, the drifts to heal, those queued and read again after the repair pass) waits in the same
temporary file as the CRM side, and is read back a batch at a time
(:mod:`tandem.pipeline.heal` queues each batch in a transaction of its own)."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from tandem.errors import MappingError
from tandem.pipeline.apart import not_apart
from tandem.pipeline.context import EntityContext
from tandem.pipeline.engine import Engine
from tandem.pipeline.events import RecordsCompared
from tandem.pipeline.heal import forget_gone, queue_heal
from tandem.pipeline.recheck import (
    READ_BATCH,
    Canonical,
    Drift,
    DriftKind,
    crm_alone,
    deleted_by_policy,
    differing_fields,
    erp_alone,
    erp_survivors,
    recheck,
)
from tandem.pipeline.report import PassReport
from tandem.pipeline.spill import Spill

DETAIL_LIMIT = 1000
"""Drifts a report lists (each kind is counted in full)."""
COLLECT_EVERY = 20
"""Batches read between full garbage collections. The CLI raises the collector's thresholds
for batch work (:func:`tandem.cli.common.tune_collector`), so reference cycles a read leaves
wait for a full collection: before the connectors stopped making them, a scan of 1,000,000
records peaked over 600 MB without one every so often instead of under 200. Measured with
``gc.collect`` after a reconcile of the demo flow (SQLite ERP, HTTPS sandbox) with the
collector off, a reconcile now leaves only what one run sets up once (the flow, its schemas
and plans, the SQL tables): httpx responses are unbound from their streams
(:func:`tandem.connectors.http._unbind`), the SQL connector builds its read statements once
per source and the state store its ``IN`` statements once. The collections stay as a guard
against a library that makes cycles again."""


@dataclass(slots=True)
class EntityReconciliation:
    """Counts for one entity."""

    erp_records: int = 0
    crm_records: int = 0
    in_sync: int = 0
    crm_only: int = 0
    archived: int = 0
    """Records deleted in one system and kept in the other, as the delete policy says
    (flagged or archived by it, or left alone by ``ignore``): agreed, not drift."""
    kept_apart: int = 0
    """Records that differ only in fields a person kept apart (a dropped conflict), each
    system still holding the value it was seen with: as the person decided, not drift."""
    drift: dict[str, int] = field(default_factory=dict)

    @property
    def differences(self) -> int:
        """Records that are not the same in both systems."""
        return sum(self.drift.values())


@dataclass(slots=True)
class ReconcileReport:
    """What reconcile found (and queued, when healing)."""

    entities: dict[str, EntityReconciliation] = field(default_factory=dict)
    drifts: list[Drift] = field(default_factory=list)
    healed: int = 0
    """Drifted records queued for repair (``--heal``); :attr:`repair` says how that went."""
    repair: PassReport | None = None
    """The pass that ran the queued repairs: what it wrote, and what it dead-lettered again."""
    unrepaired: int = 0
    """With ``--heal``: the differences not repaired. Those it could not queue (an unmappable
    record, a CRM-only one the flow does not read), and the queued records that, read again
    from both systems after the repair pass, still differ, are still missing on one side, or
    are held by an open dead letter or an open conflict (:attr:`still_drifting`)."""
    queued: list[Drift] = field(default_factory=list)
    """With ``--heal``: the drifted records queued for repair, the first
    :data:`DETAIL_LIMIT` (all of them are counted in :attr:`healed`, with the links of
    records gone from both systems that were forgotten)."""
    still_drifting: list[Drift] = field(default_factory=list)
    """With ``--heal``: the queued records not repaired, as read after the repair pass (their
    kind, keys and differing fields now; what holds them in ``message``); the first
    :data:`DETAIL_LIMIT`, all of them counted in :attr:`unrepaired`."""

    @property
    def differences(self) -> int:
        """All differences over every entity."""
        return sum(e.differences for e in self.entities.values())


async def reconcile(
    engine: Engine, *, heal: bool = False, entities: Sequence[str] | None = None
) -> ReconcileReport:
    """Compare every record of every entity (or of ``entities``) in both systems.

    Raises:
        ConfigError: an entity of ``entities`` is not in the flow.
    """
    engine.check_entities(entities)
    report = ReconcileReport()
    with Spill() as spill:
        for ctx in engine.contexts:
            if entities is not None and ctx.name not in entities:
                continue
            await _reconcile_entity(engine, ctx, report, spill, heal)
        if heal:
            report.unrepaired = report.differences - report.healed
            if report.healed:
                report.repair = await engine.sync(entities=entities)
                batches = 0
                for queued in spill.drifts((_QUEUED,), READ_BATCH):
                    batches = _collect(batches)
                    left = await recheck(engine, queued)
                    report.unrepaired += len(left)
                    report.still_drifting.extend(left[: DETAIL_LIMIT - len(report.still_drifting)])
    return report


_HEAL = "heal"
"""The spill's bin of the drifts found, to heal once the entity's scan is done."""
_QUEUED = "queued"
"""The spill's bin of the drifts queued for repair, to read again after the repair pass."""
_PAIRS = "pairs"
"""The spill's bin of the differing pairs, their fields to be named."""
_LONE = "lone"
"""The spill's bin of the unlinked ERP records missing in the CRM, waiting for a CRM record
that carries their id (then moved to :data:`_HALF`)."""
_HALF = "half"
"""The spill's bin of the unlinked ERP records a CRM record carrying their id was found for."""


class _Found:
    """The drifts of one entity as they are found: counted by kind, the first
    :data:`DETAIL_LIMIT` of the report listed, and (when healing) every one spilled to heal
    once the scan is done; none is held beyond a batch."""

    def __init__(self, report: ReconcileReport, spill: Spill, entity: str, heal: bool) -> None:
        self.report = report
        self.spill = spill
        self.counts = report.entities.setdefault(entity, EntityReconciliation())
        self.heal = heal
        self.waiting: list[Drift] = []

    def add(self, drifts: Iterable[Drift]) -> None:
        listed, counts = self.report.drifts, self.counts.drift
        for drift in drifts:
            counts[drift.kind] = counts.get(drift.kind, 0) + 1
            if len(listed) < DETAIL_LIMIT:
                listed.append(drift)
            if self.heal:
                self.waiting.append(drift)
        if len(self.waiting) >= READ_BATCH:
            self.flush()

    def flush(self) -> None:
        self.spill.put(_HEAL, self.waiting)
        self.waiting.clear()


async def _reconcile_entity(
    engine: Engine, ctx: EntityContext, report: ReconcileReport, spill: Spill, heal: bool
) -> None:
    found = _Found(report, spill, ctx.name, heal)
    spill.clear()
    await _scan(engine, ctx, found, spill)
    if not heal:
        return
    found.flush()
    for drifts in spill.drifts((_HEAL,), READ_BATCH):
        queued = queue_heal(engine, ctx, drifts)
        spill.put(_QUEUED, queued)
        report.healed += len(queued) + forget_gone(engine, ctx, drifts)
        report.queued.extend(queued[: DETAIL_LIMIT - len(report.queued)])
    spill.drop((_HEAL,))


async def _scan(engine: Engine, ctx: EntityContext, found: _Found, crm_side: Spill) -> None:
    """Stream the CRM into ``crm_side`` (digests on disk), then the ERP against it; the
    drifts found go to ``found`` as they are known."""
    store = engine.store
    counts = found.counts
    crm = Canonical(engine, ctx, "crm")
    erp = Canonical(engine, ctx, "erp")
    crm_binding = ctx.bindings["crm"]

    batches = 0
    async for batch in engine.systems.crm.read_all(crm_binding, READ_BATCH):
        batches = _collect(batches)
        counts.crm_records += len(batch)
        await engine.bus.publish(RecordsCompared(ctx.name, "crm", len(batch)))
        crm.prefetch([c.fields for c in batch])
        linked = store.partners(ctx.name, "crm", [c.key for c in batch])
        rows: list[tuple[str, str, str | None]] = []
        for change in batch:
            try:
                digest = crm.digest(change.key, change.fields)
            except MappingError as exc:
                found.add(
                    [
                        Drift(
                            ctx.name,
                            "unmappable",
                            linked.get(change.key),
                            change.key,
                            message=str(exc),
                        )
                    ]
                )
                continue
            ext: str | None = None
            if change.key not in linked:
                carried = change.fields.get(crm_binding.external_id or "")
                ext = str(carried) if carried not in (None, "") else ""
            rows.append((change.key, digest, ext))
        crm_side.add(rows)

    linked_erp = 0
    """ERP records read that are linked: fewer than the links, and some link may have lost
    both of its records."""
    # ERP records missing in the CRM and linked to nothing wait in the spill's lone bin: a
    # CRM record carrying one's id is its other half, not linked (a pass killed between the
    # CRM's write and the state's commit), and the two are one difference.
    async for batch in engine.systems.erp.read_all(ctx.bindings["erp"], READ_BATCH):
        batches = _collect(batches)
        counts.erp_records += len(batch)
        await engine.bus.publish(RecordsCompared(ctx.name, "erp", len(batch)))
        erp.prefetch([c.fields for c in batch])
        keys = [c.key for c in batch]
        partners = store.partners(ctx.name, "erp", keys)
        linked_erp += len(partners)
        crm_hashes = crm_side.take(list(partners.values()))
        lone = [k for k in keys if partners.get(k) not in crm_hashes]
        kept = erp_survivors(engine, ctx, lone, partners)
        back: list[tuple[str, str, str | None]] = []
        drifts: list[Drift] = []
        alone_unlinked: list[Drift] = []
        differing: list[Drift] = []
        for change in batch:
            partner = partners.get(change.key)
            if change.key in kept:
                counts.archived += 1
                continue
            try:
                digest = erp.digest(change.key, change.fields)
            except MappingError as exc:
                drifts.append(Drift(ctx.name, "unmappable", change.key, partner, message=str(exc)))
                if partner is not None and partner in crm_hashes:
                    back.append((partner, crm_hashes[partner], None))  # judged on its own
                continue
            theirs = crm_hashes.get(partner) if partner is not None else None
            if theirs is None:
                if (alone := erp_alone(ctx, change.key, partner)) is not None:
                    (drifts if partner is not None else alone_unlinked).append(alone)
                continue
            if theirs == digest:
                counts.in_sync += 1
            else:
                differing.append(Drift(ctx.name, "differs", change.key, partner))
        crm_side.add(back)
        crm_side.put(_LONE, alone_unlinked)
        crm_side.put(_PAIRS, differing)
        found.add(drifts)

    for page in crm_side.pages(READ_BATCH):
        kept = deleted_by_policy(engine, ctx, "crm", [k for k, _, e in page if e is None])
        claimed = await _claimed(engine, ctx, {k: e for k, _, e in page if e})
        linked_now = store.partners(ctx.name, "crm", [k for k, _, e in page if e is None])
        drifts = []
        for crm_key, _, ext in page:
            if crm_key in kept:
                counts.archived += 1
                continue
            if (twin := claimed.get(crm_key)) is not None:
                drifts.append(twin)
                continue
            message = f"not linked to CRM record {crm_key}, which carries its ERP id"
            if ext and crm_side.claim(_LONE, ext, message, _HALF):
                continue
            erp_key = linked_now.get(crm_key) if ext is None else None
            alone = crm_alone(ctx, crm_key, erp_key, bool(ext))
            if alone is not None:
                drifts.append(alone)
            else:
                counts.crm_only += 1
        found.add(drifts)

    for halves in crm_side.drifts((_LONE, _HALF), READ_BATCH):
        found.add(halves)
    crm_side.drop((_LONE, _HALF))
    for pairs in crm_side.drifts((_PAIRS,), READ_BATCH):
        batches = _collect(batches)
        differing, apart = await _detail(engine, ctx, erp, crm, pairs)
        counts.kept_apart += apart
        found.add(differing)
    crm_side.drop((_PAIRS,))
    if store.count_links(ctx.name) > linked_erp:
        async for gone in _gone_both_sides(engine, ctx):
            found.add(gone)


async def _gone_both_sides(engine: Engine, ctx: EntityContext) -> AsyncIterator[list[Drift]]:
    """The links whose records are missing in both systems, a page at a time: the links paged
    and each page's records looked up by key (in the CRM only those missing in the ERP)."""
    for page in engine.store.iter_links(ctx.name, READ_BATCH):
        erp_rows = await engine.systems.erp.read_records(ctx.bindings["erp"], [e for e, _ in page])
        lost = [(e, c) for e, c in page if e not in erp_rows]
        if not lost:
            continue
        crm_rows = await engine.systems.crm.read_records(ctx.bindings["crm"], [c for _, c in lost])
        yield [
            Drift(ctx.name, "gone_both_sides", e, c, message="deleted in both systems")
            for e, c in lost
            if c not in crm_rows
        ]


def _collect(batches: int) -> int:
    """Count one more batch read; a full garbage collection every :data:`COLLECT_EVERY`."""
    batches += 1
    if batches % COLLECT_EVERY == 0:
        gc.collect()
    return batches


async def _claimed(
    engine: Engine, ctx: EntityContext, unlinked: dict[str, str]
) -> dict[str, Drift]:
    """Of unlinked CRM records (key -> the ERP id they carry), those whose ERP record is linked
    to another CRM record that is there: a duplicate in the CRM, not a record missing in the
    ERP. Healing leaves it to a person (which of the two is kept, what is merged): a pass would
    create the ERP record a second time."""
    found: dict[str, Drift] = {}
    items = list(unlinked.items())
    for start in range(0, len(items), READ_BATCH):
        chunk = items[start : start + READ_BATCH]
        partners = engine.store.partners(ctx.name, "erp", list({e for _, e in chunk}))
        twins = {c: (e, o) for c, e in chunk if (o := partners.get(e)) is not None and o != c}
        if not twins:
            continue
        live = await engine.systems.crm.read_records(
            ctx.bindings["crm"], list({o for _, o in twins.values()})
        )
        for crm_key, (erp_key, other) in twins.items():
            if other in live:
                message = f"carries ERP id {erp_key!r}, linked to CRM record {other}"
                found[crm_key] = Drift(
                    ctx.name, "duplicate_in_crm", erp_key, crm_key, message=message
                )
    return found


async def _detail(
    engine: Engine,
    ctx: EntityContext,
    erp: Canonical,
    crm: Canonical,
    pairs: Sequence[Drift],
) -> tuple[list[Drift], int]:
    """Re-read one batch of differing pairs to name the fields that differ; and how many
    pairs differ only in fields a person kept apart, at the values seen (no drift)."""
    erp_keys = [d.erp_key or "" for d in pairs]
    crm_keys = [d.crm_key or "" for d in pairs]
    erp_rows = await engine.systems.erp.read_records(ctx.bindings["erp"], erp_keys)
    crm_rows = await engine.systems.crm.read_records(ctx.bindings["crm"], crm_keys)
    erp.prefetch([c.fields for c in erp_rows.values()])
    crm.prefetch([c.fields for c in crm_rows.values()])
    states = engine.store.synced(ctx.name, "erp", erp_keys)
    drifts: list[Drift] = []
    apart = 0
    for erp_key, crm_key in zip(erp_keys, crm_keys, strict=True):
        mine = erp_rows.get(erp_key)
        theirs = crm_rows.get(crm_key)
        if mine is None or theirs is None:
            drifts.append(Drift(ctx.name, "differs", erp_key, crm_key, {}))
            continue
        state = states.get(erp_key)
        differ = differing_fields(erp, crm, mine, theirs)
        fields = not_apart(differ, state.values if state else None)
        if differ and not fields:
            apart += 1
            continue
        drifts.append(Drift(ctx.name, "differs", erp_key, crm_key, fields))
    return drifts, apart


__all__ = ["Drift", "DriftKind", "EntityReconciliation", "ReconcileReport", "reconcile"]
