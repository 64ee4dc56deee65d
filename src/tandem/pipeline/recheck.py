"""Records compared by key: how reconcile judges a record, and the check after ``--heal``.

Reconcile's scan compares records by a hash of their comparable canonical values
(:meth:`Canonical.digest`) and decides by the rules here when a record without its partner
is drift. :func:`recheck` applies the same comparison and rules to the records ``--heal``
queued, read again by key once the repair pass is done: a write the target took without a
refusal does not prove that both systems agree (the CRM may truncate or transform the value,
an ERP trigger rewrite it, another process change the record again, or the pass not reach
it), so only a fresh read of both systems counts a drift as repaired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from tandem.codec import stable_hash
from tandem.config import Side
from tandem.connectors.base import Change
from tandem.errors import MappingError
from tandem.mapping.compare import comparable, values_equal
from tandem.pipeline.apart import not_apart
from tandem.pipeline.context import EntityContext
from tandem.pipeline.engine import Engine
from tandem.pipeline.refs import StoreRefResolver
from tandem.store import SyncedState

DriftKind = Literal[
    "differs",
    "missing_in_crm",
    "missing_in_erp",
    "orphan_in_crm",
    "duplicate_in_crm",
    "gone_both_sides",
    "unmappable",
]
READ_BATCH = 2000
"""Records read (or looked up by key) at a time; a connector splits it further by its own
limits (Salesforce: 200 ids a query)."""


@dataclass(slots=True)
class Drift:
    """One record that is not the same in both systems."""

    entity: str
    kind: DriftKind
    erp_key: str | None
    crm_key: str | None
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    message: str = ""


class Canonical:
    """Canonical values of records read from one side, hashed over the compared fields."""

    def __init__(self, engine: Engine, ctx: EntityContext, side: Side) -> None:
        self.engine = engine
        self.ctx = ctx
        self.side = side
        self.refs = StoreRefResolver(engine.store)
        self.compared = compared_fields(ctx)

    def canonical(self, key: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The compared fields' values, in the form they compare by (:func:`comparable`): a
        double read as ``12.35`` and a decimal ``12.35`` are one value, as to the planner.

        Raises:
            MappingError: the record does not map.
        """
        values = self.engine.mapper.to_canonical(self.ctx.spec, self.side, fields, key, self.refs)
        return {k: comparable(v) for k, v in values.items() if k in self.compared}

    def digest(self, key: str, fields: Mapping[str, Any]) -> str:
        """What the record is compared by: two records agree when their digests are equal.

        Raises:
            MappingError: the record does not map.
        """
        return stable_hash(self.canonical(key, fields))

    def prefetch(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.refs.prefetch_rows(self.ctx.spec, self.side, rows)


def differing_fields(
    erp: Canonical, crm: Canonical, mine: Change, theirs: Change
) -> dict[str, tuple[Any, Any]]:
    """The compared fields whose values differ: name -> (ERP value, CRM value)."""
    a = erp.canonical(mine.key, mine.fields)
    b = crm.canonical(theirs.key, theirs.fields)
    return {
        name: (a.get(name), b.get(name))
        for name in sorted(set(a) | set(b))
        if not values_equal(a.get(name), b.get(name))
    }


def compare_pair(
    ctx: EntityContext, erp: Canonical, crm: Canonical, mine: Change, theirs: Change
) -> Drift | None:
    """``None`` when a linked pair agrees (as the scan compares it); else its drift."""
    try:
        if erp.digest(mine.key, mine.fields) == crm.digest(theirs.key, theirs.fields):
            return None
        fields = differing_fields(erp, crm, mine, theirs)
    except MappingError as exc:
        return Drift(ctx.name, "unmappable", mine.key, theirs.key, message=str(exc))
    return Drift(ctx.name, "differs", mine.key, theirs.key, fields)


def erp_alone(ctx: EntityContext, erp_key: str, partner: str | None) -> Drift | None:
    """An ERP record whose CRM partner is not there (and that no delete policy left so): drift
    when the flow reads the ERP, else nothing it would repair. ``partner``: its (gone) link.

    A linked one is also drift when the flow reads the CRM alone: its partner's delete is
    one the flow carries to the ERP (``--heal`` does, by the delete policy), even when the
    CRM no longer tells of it (purged from the recycle bin before a pass read it).
    """
    if ctx.reads("erp") or (partner is not None and ctx.reads("crm")):
        return Drift(ctx.name, "missing_in_crm", erp_key, partner)
    return None


def crm_alone(
    ctx: EntityContext, crm_key: str, partner: str | None, external: bool
) -> Drift | None:
    """A CRM record whose ERP partner is not there (and that no delete policy left so).

    Args:
        partner: the ERP key it is linked to; ``None`` when it is not linked.
        external: it carries an ERP id (its external-id field is set).

    Returns:
        Its drift, or ``None`` for a CRM-only record the flow leaves alone.
    """
    if partner is not None:
        return Drift(
            ctx.name, "missing_in_erp", partner, crm_key, message="linked ERP record is gone"
        )
    if ctx.reads("crm"):
        return Drift(ctx.name, "missing_in_erp", None, crm_key)
    if external:
        return Drift(
            ctx.name, "orphan_in_crm", None, crm_key, message="carries an ERP id but is not linked"
        )
    return None


def erp_survivors(
    engine: Engine, ctx: EntityContext, keys: Sequence[str], partners: Mapping[str, str]
) -> frozenset[str]:
    """Of ERP ``keys`` whose CRM partner is not there, those the delete policy left so.

    ``partners``: the CRM partners of (at least) ``keys``.
    """
    if ctx.rules.delete == "delete":
        # the policy deletes both and drops the link: an unlinked record under a key
        # whose delete was synced is a new one (created again), not a survivor
        keys = [k for k in keys if k in partners]
    return deleted_by_policy(engine, ctx, "erp", keys)


def deleted_by_policy(
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


def compared_fields(ctx: EntityContext) -> frozenset[str]:
    """Canonical fields present on both sides (native name or expression on each)."""
    return frozenset(
        spec.field
        for spec in ctx.spec.fields
        if (spec.erp or spec.erp_expr) and (spec.crm or spec.crm_expr)
    )


_Pair = tuple[str | None, str | None]
"""The ERP and CRM keys a queued record is to be found under now."""


async def recheck(engine: Engine, queued: Sequence[Drift]) -> list[Drift]:
    """The ``queued`` drifts that are not repaired, as both systems hold them now.

    Each record is read again by key from both systems, in batches of :data:`READ_BATCH`,
    and judged as the scan judges it: it counts as repaired when both records agree (or the
    delete policy left one alone), and nothing holds it (an open or retrying dead letter, an
    open conflict). What is left is returned as read now: its kind, keys and differing fields;
    one that agrees but is held keeps the kind it was queued with and says what holds it.

    Raises:
        ConnectorError: a system could not be read.
    """
    left: list[Drift] = []
    by_entity: dict[str, list[Drift]] = {}
    for drift in queued:
        by_entity.setdefault(drift.entity, []).append(drift)
    for entity, drifts in by_entity.items():
        ctx = engine.context(entity)
        pairs: list[_Pair] = []
        for start in range(0, len(drifts), READ_BATCH):
            pairs.extend(_pairs_now(engine, ctx, drifts[start : start + READ_BATCH]))
        held = _lettered(engine, entity, drifts, pairs)
        for start in range(0, len(drifts), READ_BATCH):
            end = start + READ_BATCH
            left.extend(await _judge(engine, ctx, drifts[start:end], pairs[start:end], held))
    return left


def _pairs_now(engine: Engine, ctx: EntityContext, drifts: Sequence[Drift]) -> list[_Pair]:
    """Where each queued record is now: its key on the side it was queued from, and that
    key's partner as linked now (the repair pass links a record it created)."""
    store = engine.store
    partners_erp = store.partners(
        ctx.name, "erp", [d.erp_key for d in drifts if d.kind == "missing_in_crm" and d.erp_key]
    )
    partners_crm = store.partners(
        ctx.name, "crm", [d.crm_key for d in drifts if d.kind != "missing_in_crm" and d.crm_key]
    )
    pairs: list[_Pair] = []
    for d in drifts:
        if d.kind == "differs":  # healing kept the link
            pairs.append((d.erp_key, d.crm_key))
        elif d.kind == "missing_in_crm" and d.erp_key is not None:
            pairs.append((d.erp_key, partners_erp.get(d.erp_key)))
        elif d.crm_key is not None:  # missing in the ERP, or an orphan of the CRM
            pairs.append((partners_crm.get(d.crm_key), d.crm_key))
        else:
            pairs.append((d.erp_key, d.crm_key))
    return pairs


def _keys(drift: Drift, pair: _Pair) -> set[tuple[Side, str]]:
    """Every key a queued record had or has, by side."""
    erp: set[tuple[Side, str]] = {("erp", k) for k in (drift.erp_key, pair[0]) if k is not None}
    crm: set[tuple[Side, str]] = {("crm", k) for k in (drift.crm_key, pair[1]) if k is not None}
    return erp | crm


def _lettered(
    engine: Engine, entity: str, drifts: Sequence[Drift], pairs: Sequence[_Pair]
) -> set[tuple[Side, str]]:
    """Of the queued records' keys, those with an open or retrying dead letter (looked up by
    key: the cost follows the records queued, not the letters the flow holds)."""
    wanted: dict[Side, set[str]] = {"erp": set(), "crm": set()}
    for drift, pair in zip(drifts, pairs, strict=True):
        for side, key in _keys(drift, pair):
            wanted[side].add(key)
    found: set[tuple[Side, str]] = set()
    for side, keys in wanted.items():
        if keys:
            letters = engine.store.unsolved_dead_letters(
                engine.flow.name, entity, side, sorted(keys)
            )
            found.update((side, key) for key in letters)
    return found


async def _judge(
    engine: Engine,
    ctx: EntityContext,
    drifts: Sequence[Drift],
    pairs: Sequence[_Pair],
    lettered: set[tuple[Side, str]],
) -> list[Drift]:
    """The drifts of one batch that are not repaired, read now."""
    store = engine.store
    erp_keys = list(dict.fromkeys(e for e, _ in pairs if e is not None))
    crm_keys = list(dict.fromkeys(c for _, c in pairs if c is not None))
    links_erp = store.partners(ctx.name, "erp", erp_keys)
    links_crm = store.partners(ctx.name, "crm", crm_keys)
    mine_rows = await engine.systems.erp.read_records(ctx.bindings["erp"], erp_keys)
    theirs_rows = await engine.systems.crm.read_records(ctx.bindings["crm"], crm_keys)
    erp, crm = Canonical(engine, ctx, "erp"), Canonical(engine, ctx, "crm")
    erp.prefetch([c.fields for c in mine_rows.values()])
    crm.prefetch([c.fields for c in theirs_rows.values()])
    alone_erp = [e for e, c in pairs if e in mine_rows and (c is None or c not in theirs_rows)]
    alone_crm = [c for e, c in pairs if c in theirs_rows and (e is None or e not in mine_rows)]
    kept_erp = erp_survivors(engine, ctx, alone_erp, links_erp)
    kept_crm = deleted_by_policy(engine, ctx, "crm", [c for c in alone_crm if c in links_crm])
    conflicted = store.open_conflict_fields(
        engine.flow.name,
        ctx.name,
        list({k for d, (e, _) in zip(drifts, pairs, strict=True) for k in (d.erp_key, e) if k}),
    )
    external = ctx.bindings["crm"].external_id or ""
    agreed = store.synced(ctx.name, "erp", [e for e, _ in pairs if e is not None])
    left: list[Drift] = []
    for drift, (erp_key, crm_key) in zip(drifts, pairs, strict=True):
        mine = mine_rows.get(erp_key) if erp_key is not None else None
        theirs = theirs_rows.get(crm_key) if crm_key is not None else None
        now: Drift | None = None
        if mine is not None and theirs is not None:
            now = _beyond_apart(compare_pair(ctx, erp, crm, mine, theirs), agreed)
        elif mine is not None and mine.key not in kept_erp:
            partner = links_erp.get(mine.key)
            now = _unmappable(ctx, erp, mine, partner) or erp_alone(ctx, mine.key, partner)
        elif theirs is not None and theirs.key not in kept_crm:
            partner = links_crm.get(theirs.key)
            now = _unmappable(ctx, crm, theirs, partner) or crm_alone(
                ctx, theirs.key, partner, bool(theirs.fields.get(external))
            )
        keys = _keys(drift, (erp_key, crm_key))
        holds = [
            what
            for what, there in (
                ("an open dead letter", bool(keys & lettered)),
                ("an open conflict", any(k in conflicted for side, k in keys if side == "erp")),
            )
            if there
        ]
        if now is None and not holds:
            continue  # repaired: both systems agree, and nothing holds it
        if now is None:
            now = Drift(ctx.name, drift.kind, erp_key, crm_key, message="values agree now")
        if holds:
            now.message = "; ".join([*([now.message] if now.message else []), *holds])
        left.append(now)
    return left


def _beyond_apart(drift: Drift | None, agreed: Mapping[str, SyncedState]) -> Drift | None:
    """A differing pair's drift without the fields a person kept apart at the values seen
    (:func:`~tandem.pipeline.apart.not_apart`); ``None`` when no other field differs."""
    if drift is None or drift.kind != "differs" or not drift.fields or drift.erp_key is None:
        return drift
    state = agreed.get(drift.erp_key)
    fields = not_apart(drift.fields, state.values if state is not None else None)
    if not fields:
        return None
    return replace(drift, fields=fields) if fields != drift.fields else drift


def _unmappable(
    ctx: EntityContext, side: Canonical, change: Change, partner: str | None
) -> Drift | None:
    """The drift of a record that does not map (as the scan reports it), or ``None``."""
    try:
        side.digest(change.key, change.fields)
    except MappingError as exc:
        erp_key, crm_key = (change.key, partner) if side.side == "erp" else (partner, change.key)
        return Drift(ctx.name, "unmappable", erp_key, crm_key, message=str(exc))
    return None


__all__ = [
    "READ_BATCH",
    "Canonical",
    "Drift",
    "DriftKind",
    "compare_pair",
    "compared_fields",
    "crm_alone",
    "deleted_by_policy",
    "differing_fields",
    "erp_alone",
    "erp_survivors",
    "recheck",
]
