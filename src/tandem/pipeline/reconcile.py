"""Reconcile: compare both systems record by record, report drift, optionally heal it.

The CRM side is streamed first and kept only as a hash of each record's comparable canonical
values (about 100 bytes a record); the ERP side is then streamed against it. Records whose
hashes differ are re-read in batches to name the differing fields. Healing clears the agreed
state of drifted records and queues them, so the next pass rewrites them by the normal rules
(ownership, conflict policy), never by a side channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

from tandem.codec import stable_hash
from tandem.config import Side
from tandem.errors import MappingError
from tandem.mapping.compare import comparable, values_equal
from tandem.pipeline.context import EntityContext
from tandem.pipeline.engine import Engine
from tandem.pipeline.events import RecordsCompared
from tandem.pipeline.refs import StoreRefResolver
from tandem.pipeline.report import PassReport
from tandem.store import SyncedState

T = TypeVar("T")

DriftKind = Literal["differs", "missing_in_crm", "missing_in_erp", "orphan_in_crm", "unmappable"]
DETAIL_LIMIT = 1000
READ_BATCH = 2000


@dataclass(slots=True)
class Drift:
    """One record that is not the same in both systems."""

    entity: str
    kind: DriftKind
    erp_key: str | None
    crm_key: str | None
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    message: str = ""


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
    record, a CRM-only one the flow does not read), and the queued records the repair pass
    left with an open dead letter or an open conflict."""
    queued: list[Drift] = field(default_factory=list)
    """With ``--heal``: the drifted records queued for repair."""

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
    for ctx in engine.contexts:
        if entities is not None and ctx.name not in entities:
            continue
        await _reconcile_entity(engine, ctx, report, heal)
    if heal:
        report.unrepaired = report.differences - report.healed
        if report.healed:
            report.repair = await engine.sync(entities=entities)
            report.unrepaired += _still_failing(engine, report.queued)
    return report


def _still_failing(engine: Engine, queued: Sequence[Drift]) -> int:
    """How many of the ``queued`` records now have an open dead letter or an open conflict."""
    store = engine.store
    flow = engine.flow.name
    failing: set[tuple[str, Side, str]] = set()
    for entity in {d.entity for d in queued}:
        for status in ("open", "retrying"):
            letters = _all(partial(store.dead_letters, flow=flow, status=status, entity=entity))
            failing.update((x.entity, x.side, x.record_key) for x in letters)
        for conflict in _all(partial(store.conflicts, flow=flow, status="open", entity=entity)):
            failing.add((conflict.entity, "erp", conflict.erp_key))
            if conflict.crm_key is not None:
                failing.add((conflict.entity, "crm", conflict.crm_key))
    return sum(
        1
        for d in queued
        if (d.erp_key is not None and (d.entity, "erp", d.erp_key) in failing)
        or (d.crm_key is not None and (d.entity, "crm", d.crm_key) in failing)
    )


PAGE = 1000
"""Rows a listing of the store is read by."""


def _all(listing: Callable[..., Sequence[T]]) -> list[T]:
    """Every row of a store listing that takes ``limit`` and ``offset``."""
    rows: list[T] = []
    while True:
        got = listing(limit=PAGE, offset=len(rows))
        rows.extend(got)
        if len(got) < PAGE:
            return rows


class _Side:
    """Canonical values of records read from one side, hashed over the compared fields."""

    def __init__(self, engine: Engine, ctx: EntityContext, side: Side) -> None:
        self.engine = engine
        self.ctx = ctx
        self.side = side
        self.refs = StoreRefResolver(engine.store)
        self.compared = _compared_fields(ctx)

    def canonical(self, key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The compared fields' values, in the form they compare by (:func:`comparable`): a
        double read as ``12.35`` and a decimal ``12.35`` are one value, as to the planner."""
        values = self.engine.mapper.to_canonical(self.ctx.spec, self.side, fields, key, self.refs)
        return {k: comparable(v) for k, v in values.items() if k in self.compared}

    def prefetch(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.refs.prefetch_rows(self.ctx.spec, self.side, rows)


async def _reconcile_entity(
    engine: Engine, ctx: EntityContext, report: ReconcileReport, heal: bool
) -> None:
    store = engine.store
    counts = report.entities.setdefault(ctx.name, EntityReconciliation())
    crm = _Side(engine, ctx, "crm")
    erp = _Side(engine, ctx, "erp")
    crm_binding = ctx.bindings["crm"]
    crm_hashes: dict[str, str] = {}
    crm_unlinked: dict[str, bool] = {}
    drifts: list[Drift] = []

    async for batch in engine.systems.crm.read_all(crm_binding, READ_BATCH):
        counts.crm_records += len(batch)
        await engine.bus.publish(RecordsCompared(ctx.name, "crm", len(batch)))
        crm.prefetch([c.fields for c in batch])
        linked = store.partners(ctx.name, "crm", [c.key for c in batch])
        for change in batch:
            try:
                crm_hashes[change.key] = stable_hash(crm.canonical(change.key, change.fields))
            except MappingError as exc:
                drifts.append(
                    Drift(
                        ctx.name, "unmappable", linked.get(change.key), change.key, message=str(exc)
                    )
                )
                continue
            if change.key not in linked:
                ext = change.fields.get(crm_binding.external_id or "")
                crm_unlinked[change.key] = bool(ext)

    differing: list[tuple[str, str]] = []
    async for batch in engine.systems.erp.read_all(ctx.bindings["erp"], READ_BATCH):
        counts.erp_records += len(batch)
        await engine.bus.publish(RecordsCompared(ctx.name, "erp", len(batch)))
        erp.prefetch([c.fields for c in batch])
        keys = [c.key for c in batch]
        partners = store.partners(ctx.name, "erp", keys)
        lone = [k for k in keys if partners.get(k) not in crm_hashes]
        if ctx.rules.delete == "delete":
            # the policy deletes both and drops the link: an unlinked record under a key
            # whose delete was synced is a new one (created again), not a survivor
            lone = [k for k in lone if k in partners]
        kept = _deleted_by_policy(engine, ctx, "erp", lone)
        for change in batch:
            if change.key in kept:
                counts.archived += 1
                if (partner := partners.get(change.key)) is not None:
                    crm_hashes.pop(partner, None)
                continue
            partner = partners.get(change.key)
            try:
                digest = stable_hash(erp.canonical(change.key, change.fields))
            except MappingError as exc:
                drifts.append(Drift(ctx.name, "unmappable", change.key, partner, message=str(exc)))
                continue
            theirs = crm_hashes.pop(partner, None) if partner is not None else None
            if theirs is None:
                if ctx.reads("erp"):
                    drifts.append(Drift(ctx.name, "missing_in_crm", change.key, partner))
                continue
            if theirs == digest:
                counts.in_sync += 1
            else:
                differing.append((change.key, partner or ""))

    kept = _deleted_by_policy(engine, ctx, "crm", [k for k in crm_hashes if k not in crm_unlinked])
    for crm_key in crm_hashes:
        if crm_key in kept:
            counts.archived += 1
        elif crm_key not in crm_unlinked:
            drifts.append(
                Drift(
                    ctx.name,
                    "missing_in_erp",
                    store.partner(ctx.name, "crm", crm_key),
                    crm_key,
                    message="linked ERP record is gone",
                )
            )
        elif ctx.reads("crm"):
            drifts.append(Drift(ctx.name, "missing_in_erp", None, crm_key))
        elif crm_unlinked[crm_key]:
            drifts.append(
                Drift(
                    ctx.name,
                    "orphan_in_crm",
                    None,
                    crm_key,
                    message="carries an ERP id but is not linked",
                )
            )
        else:
            counts.crm_only += 1

    drifts.extend(await _detail(engine, ctx, erp, crm, differing))
    for drift in drifts:
        counts.drift[drift.kind] = counts.drift.get(drift.kind, 0) + 1
    report.drifts.extend(drifts[: max(0, DETAIL_LIMIT - len(report.drifts))])
    if heal:
        queued = _queue_heal(engine, ctx, drifts)
        report.healed += len(queued)
        report.queued.extend(queued)


async def _detail(
    engine: Engine,
    ctx: EntityContext,
    erp: _Side,
    crm: _Side,
    pairs: Sequence[tuple[str, str]],
) -> list[Drift]:
    """Re-read differing records to name the fields that differ."""
    drifts: list[Drift] = []
    for start in range(0, len(pairs), READ_BATCH):
        chunk = pairs[start : start + READ_BATCH]
        erp_rows = await engine.systems.erp.read_records(ctx.bindings["erp"], [e for e, _ in chunk])
        crm_rows = await engine.systems.crm.read_records(ctx.bindings["crm"], [c for _, c in chunk])
        erp.prefetch([c.fields for c in erp_rows.values()])
        crm.prefetch([c.fields for c in crm_rows.values()])
        for erp_key, crm_key in chunk:
            mine = erp_rows.get(erp_key)
            theirs = crm_rows.get(crm_key)
            fields: dict[str, tuple[Any, Any]] = {}
            if mine is not None and theirs is not None:
                a = erp.canonical(erp_key, mine.fields)
                b = crm.canonical(crm_key, theirs.fields)
                fields = {
                    name: (a.get(name), b.get(name))
                    for name in sorted(set(a) | set(b))
                    if not values_equal(a.get(name), b.get(name))
                }
            drifts.append(Drift(ctx.name, "differs", erp_key, crm_key, fields))
    return drifts


def _queue_heal(engine: Engine, ctx: EntityContext, drifts: Sequence[Drift]) -> list[Drift]:
    """Forget the agreed state of drifted records and queue them for the next pass; the drifts
    queued."""
    store = engine.store
    flow = engine.flow.name
    queued: list[Drift] = []
    with store.transaction():
        for drift in drifts:
            if drift.kind == "unmappable":
                continue
            if drift.kind == "missing_in_crm" and drift.erp_key is not None:
                if drift.crm_key is not None:
                    store.unlink(ctx.name, "erp", drift.erp_key)
                store.save_synced([SyncedState(ctx.name, drift.erp_key, None, {}, None, None)])
                store.enqueue(
                    flow=flow,
                    entity=ctx.name,
                    side="erp",
                    record_keys=[drift.erp_key],
                    reason="reconcile: missing in crm",
                )
            elif drift.kind in ("missing_in_erp", "orphan_in_crm") and drift.crm_key is not None:
                if drift.erp_key is not None:
                    store.unlink(ctx.name, "crm", drift.crm_key)
                if ctx.reads("crm"):
                    store.enqueue(
                        flow=flow,
                        entity=ctx.name,
                        side="crm",
                        record_keys=[drift.crm_key],
                        reason="reconcile: missing in erp",
                    )
                else:
                    continue
            elif drift.kind == "differs" and drift.erp_key and drift.crm_key:
                store.save_synced(
                    [SyncedState(ctx.name, drift.erp_key, drift.crm_key, {}, None, None)]
                )
                keys: tuple[tuple[Side, str], ...] = (
                    ("erp", drift.erp_key),
                    ("crm", drift.crm_key),
                )
                for side, key in keys:
                    if ctx.reads(side):
                        store.enqueue(
                            flow=flow,
                            entity=ctx.name,
                            side=side,
                            record_keys=[key],
                            reason="reconcile: values differ",
                        )
            else:
                continue
            queued.append(drift)
    return queued


def _deleted_by_policy(
    engine: Engine, ctx: EntityContext, side: Side, keys: Sequence[str]
) -> frozenset[str]:
    """Of ``keys`` on ``side``, those whose partner's delete was synced (the state says so).

    Such a record is the survivor of a delete that the entity's policy carried over by
    archiving or flagging it, or by leaving it alone: it is where the policy put it.
    """
    if not keys:
        return frozenset()
    states = engine.store.synced(ctx.name, side, list(keys))
    return frozenset(key for key, state in states.items() if state.deleted)


def _compared_fields(ctx: EntityContext) -> frozenset[str]:
    """Canonical fields present on both sides (native name or expression on each)."""
    return frozenset(
        spec.field
        for spec in ctx.spec.fields
        if (spec.erp or spec.erp_expr) and (spec.crm or spec.crm_expr)
    )


__all__ = ["Drift", "EntityReconciliation", "ReconcileReport", "reconcile"]
