"""Plan: decide, per changed record, what each system must receive. Pure: no I/O.

The planner compares a source record (in canonical form) with the state both systems
agreed on at the last sync (the *base*). Fields equal to the base are echoes or no-ops and
are skipped. A changed field goes to the target when the source owns it; when the target
owns it, the source is reverted to the base; when both may edit it and the target changed
it too, the conflict policy decides (owner wins, newest wins, or a person via the conflict
queue). Nothing is ever ping-ponged: after a write, base == both sides.

A field kept apart (a person dropped its conflict, :mod:`tandem.pipeline.apart`) has a base
per side: each system is compared with the value it was seen holding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Literal

from pydantic import TypeAdapter, ValidationError

from tandem.config import ConflictPolicy, DeletePolicy, Owner, Side, other
from tandem.mapping import ValuesWithFlag, values_equal
from tandem.pipeline.apart import APART, base_of, forget_apart

IntentAction = Literal["create", "update", "delete", "flag"]


class _Unread:
    """The type of :data:`UNREAD`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNREAD"


NO_TIME: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""The modification time of an ERP row the change log holds no entry for (the connectors'
``EPOCH``): no time at all, so never the newest."""

UNREAD: Final[Any] = _Unread()
"""A source record's :attr:`SourceRecord.flag` when its flag field was not read."""


@dataclass(frozen=True, slots=True)
class Rules:
    """The policies of one entity that the planner applies."""

    owner_of: Callable[[str], Owner]
    default_owner: Side
    conflict: ConflictPolicy
    delete: DeletePolicy
    flagged: Mapping[Side, Mapping[str, Any]] = field(default_factory=dict)
    """Per side: the canonical values the flag/archive delete policy sets there, for the
    flag fields that are also mapped (a flag field that is not mapped has none)."""
    flag_values: Mapping[Side, Any] = field(default_factory=dict)
    """Per side where the flag/archive delete policy sets a flag: the native value it sets
    (what the flag field of a survivor holds while it stays archived)."""

    def flags_natively(self, side: Side) -> bool:
        """Whether a survivor on ``side`` tells its flag by the native field alone: the policy
        flags ``side`` and the flag is not mapped (it is in no canonical value)."""
        return side in self.flag_values and not self.flagged.get(side)

    def still_flagged(self, side: Side, record: SourceRecord) -> bool:
        """Whether a record of ``side`` still holds the flag its delete policy set there.

        A mapped flag is read from the canonical values: each mapped flag value must be
        there. An unmapped one from the native flag field read with the record
        (:attr:`SourceRecord.flag`); a record read without it counts as still flagged, so an
        unknown flag never brings a deleted record back.
        """
        marks = self.flagged.get(side)
        if marks:
            values = record.values
            return all(
                name in values and values_equal(values[name], mark) for name, mark in marks.items()
            )
        if side not in self.flag_values:
            return False
        return record.flag is UNREAD or flag_holds(record.flag, self.flag_values[side])


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A changed record read from the source, mapped to canonical values."""

    key: str
    values: Mapping[str, Any]
    modified_at: datetime
    deleted: bool = False
    flag: Any = UNREAD
    """The native value of the record's delete-policy flag field, when read (:data:`UNREAD`
    when not). Values read by :meth:`~tandem.mapping.Mapper.to_canonical` bring it along
    (:class:`~tandem.mapping.ValuesWithFlag`): it is taken from them when not given."""
    merged_into: str | None = None
    """For a deleted record: the key of the record its system merged it into (a Salesforce
    merge's loser), else ``None``."""

    def __post_init__(self) -> None:
        if self.flag is UNREAD and isinstance(self.values, ValuesWithFlag):
            object.__setattr__(self, "flag", self.values.flag)


@dataclass(frozen=True, slots=True)
class TargetRecord:
    """The target's current state of the linked record (read only when needed)."""

    key: str
    values: Mapping[str, Any]
    modified_at: datetime
    native: Mapping[str, Any] = field(default_factory=dict)
    """The native fields as read: what a write over them expects to find (its guard)."""
    read_at: datetime | None = None
    """When it was read, by the target's own clock (never later than it was), if known."""


@dataclass(frozen=True, slots=True)
class Intent:
    """A write to one system, in canonical terms.

    Attributes:
        side: the system written.
        action: create (idempotent upsert), update, delete, or flag (the delete policy).
        key: the record's key in ``side`` when known.
        values: canonical field -> value to write (empty for delete and flag).
    """

    side: Side
    action: IntentAction
    key: str | None
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FieldConflict:
    """Both systems changed ``field`` to different values since the last sync."""

    field: str
    base: Any
    erp_value: Any
    crm_value: Any


@dataclass(slots=True)
class RecordPlan:
    """Everything one source record leads to."""

    source: Side
    key: str
    partner: str | None
    target: Intent | None = None
    revert: Intent | None = None
    values: dict[str, Any] = field(default_factory=dict)
    changed: tuple[str, ...] = ()
    conflicts: list[FieldConflict] = field(default_factory=list)
    deleted: bool = False
    unlinks: bool = False
    """A delete that leaves the record in neither system (the ``delete`` policy): the link of
    the two keys goes with it. A record brought back later under one of them is a new one."""
    merged_into: str | None = None
    """The CRM merged this linked record into the record with this key: a merge, not a
    delete. The partner is left as it is (not deleted, archived or flagged); the link goes,
    and so does the agreed state (a later link of the partner is a first link); a person
    decides what becomes of the partner (a ``MERGED_IN_CRM`` dead letter)."""
    converged: bool = False
    """Both systems already hold a new value of a field (the same edit made in both, or a
    write whose pass died before its state was saved): nothing to write, but the agreed
    values move to it, or a later edit back to the old value would pass for an echo."""

    @property
    def noop(self) -> bool:
        """Nothing to write anywhere and nothing to record."""
        return self.target is None and self.revert is None and not self.conflicts


def plan_record(
    rules: Rules,
    source: Side,
    record: SourceRecord,
    *,
    base: Mapping[str, Any] | None,
    base_deleted: bool,
    partner: str | None,
    current: TargetRecord | None,
    held: frozenset[str] = frozenset(),
) -> RecordPlan:
    """Plan one record.

    Args:
        rules: the entity's policies.
        source: the system the record was read from.
        record: the record, in canonical values.
        base: canonical values both systems agreed on at the last sync (None: never synced).
        base_deleted: the last sync recorded the record as deleted.
        partner: the record's key in the target system, when linked.
        current: the target's current record, when it was read (contested fields only).
        held: fields with an open conflict waiting for a person; they are left alone.

    Returns:
        The plan; ``plan.noop`` when nothing needs doing.
    """
    target = other(source)
    if record.deleted:
        plan = RecordPlan(source=source, key=record.key, partner=partner)
        if record.merged_into and source == "crm" and partner is not None and not base_deleted:
            # a merge: the partner is not the loser's to take along (orders, invoices)
            plan.deleted = plan.unlinks = True
            plan.merged_into = record.merged_into
            plan.values = dict(base or {})
            return plan
        return _plan_delete(rules, plan, target, base, base_deleted, partner)
    if base_deleted and not _gone_both(rules, partner):
        survivor = _plan_survivor(rules, source, record, base, partner)
        if survivor is not None:
            return survivor
    if partner is None or base_deleted:
        if held:
            values = {f: v for f, v in record.values.items() if f not in held}
        else:
            values = dict(record.values)
        create = Intent(target, "create", None, values)
        return RecordPlan(
            source, record.key, partner, target=create, values=values, changed=_sorted(values)
        )
    plan = RecordPlan(source=source, key=record.key, partner=partner)

    agreed: Mapping[str, Any] = base or {}
    apart: Mapping[str, Mapping[str, Any]] = agreed.get(APART) or {}
    new_values = dict(agreed)
    write: dict[str, Any] = {}
    revert: dict[str, Any] = {}
    changed: list[str] = []
    for name, value in record.values.items():
        if name in held:
            continue
        seen = apart.get(name) if apart else None
        if seen is None:
            known = name in agreed
            mine = before = agreed[name] if known else None
        else:  # kept apart: each system against the value it was seen holding
            known, mine, before = True, seen.get(source), seen.get(target)
        if known and values_equal(value, mine):
            continue
        changed.append(name)
        owner = rules.owner_of(name)
        if owner == target:
            if known:
                revert[name] = before
                if seen is not None:
                    _agreed_on(new_values, name, before)
            continue
        if owner == "both" and current is not None and name in current.values:
            theirs = current.values[name]
            they_changed = not known or not values_equal(theirs, before)
            if they_changed and values_equal(theirs, value):
                _agreed_on(new_values, name, value)
                plan.converged = True
                continue
            if they_changed:
                winner = _winner(rules, source, record, current)
                if winner is None:
                    plan.conflicts.append(_conflict(name, agreed.get(name), source, value, theirs))
                    continue
                if winner == target:
                    revert[name] = theirs
                    _agreed_on(new_values, name, theirs)
                    continue
        write[name] = value
        _agreed_on(new_values, name, value)

    plan.values = new_values
    plan.changed = tuple(changed)
    if write:
        plan.target = Intent(target, "update", partner, write)
    if revert:
        plan.revert = Intent(source, "update", record.key, revert)
    return plan


def _agreed_on(values: dict[str, Any], name: str, value: Any) -> None:
    """Both systems hold ``value`` for ``name`` once the plan is carried out: a field kept
    apart is agreed again."""
    values[name] = value
    if APART in values:
        forget_apart(values, name)


_SORTED: dict[tuple[str, ...], tuple[str, ...]] = {}
"""Field names in record order -> sorted: the records of a batch mostly share one order."""
_SORTED_MAX = 64


def _sorted(values: Mapping[str, Any]) -> tuple[str, ...]:
    """``tuple(sorted(values))``, remembered for the few orders of names records come in."""
    names = tuple(values)
    found = _SORTED.get(names)
    if found is None:
        found = tuple(sorted(names))
        if len(_SORTED) < _SORTED_MAX:
            _SORTED[names] = found
    return found


def _gone_both(rules: Rules, partner: str | None) -> bool:
    """Whether a record whose delete was synced was deleted in both systems.

    The ``delete`` policy deletes the partner too and drops the link (:attr:`RecordPlan.
    unlinks`): a record read alive under such a key was created again, and is synced as new
    even with the values it had. Under the other policies the partner survives, linked.
    """
    return partner is None and rules.delete == "delete"


def _plan_survivor(
    rules: Rules,
    source: Side,
    record: SourceRecord,
    base: Mapping[str, Any] | None,
    partner: str | None,
) -> RecordPlan | None:
    """The plan of a record whose partner's delete was synced; None: it comes back (created).

    A survivor the delete policy flagged stays deleted in the other system while it holds
    the flag, edited or not; clearing the flag brings it back. A mapped flag is one of the
    values (cleared, they differ from the agreed ones); an unmapped one is not, so only its
    native value tells a cleared flag from a re-read.
    """
    flagged = rules.still_flagged(source, record)
    if _unchanged(record.values, base, source) and (flagged or not rules.flags_natively(source)):
        # a re-read of a record whose partner is gone: nothing to bring back
        return RecordPlan(source, record.key, partner, values=dict(base or {}))
    if flagged:
        # an archived survivor edited while it stays archived: its partner stays deleted;
        # only clearing the flag brings the record back
        kept = {**(base or {}), **record.values}
        return RecordPlan(source, record.key, partner, values=kept, deleted=True)
    return None


_BOOL: Final = TypeAdapter(bool)


def flag_holds(value: Any, mark: Any) -> bool:
    """Whether a native flag field's ``value`` is the delete policy's ``mark``.

    Databases store flags their own way: ``0``, ``'N'`` or ``'false'`` hold ``false``, and
    ``'1'`` holds ``1``. ``None`` holds no mark but ``None``.
    """
    if values_equal(value, mark):
        return True
    if value is None or mark is None:
        return False
    if isinstance(mark, bool) or isinstance(value, bool):
        try:
            return _BOOL.validate_python(value) is _BOOL.validate_python(mark)
        except ValidationError:
            return False
    text, wanted = str(value).strip(), str(mark).strip()
    try:
        return Decimal(text) == Decimal(wanted)
    except ArithmeticError:
        return text == wanted


def _unchanged(values: Mapping[str, Any], base: Mapping[str, Any] | None, side: Side) -> bool:
    """Whether ``side``'s record holds what it held at the last sync, field by field."""
    if base is None or APART not in base:
        agreed = base or {}
        return all(name in agreed and values_equal(v, agreed[name]) for name, v in values.items())
    for name, value in values.items():
        known, was = base_of(base, name, side)
        if not known or not values_equal(value, was):
            return False
    return True


def _plan_delete(
    rules: Rules,
    plan: RecordPlan,
    target: Side,
    base: Mapping[str, Any] | None,
    base_deleted: bool,
    partner: str | None,
) -> RecordPlan:
    plan.deleted = True
    plan.values = dict(base or {})
    if partner is None or base_deleted or rules.delete == "ignore":
        return plan
    if rules.delete == "delete" or (rules.delete == "archive" and target == "crm"):
        plan.target = Intent(target, "delete", partner)
        plan.unlinks = rules.delete == "delete"
    else:
        plan.target = Intent(target, "flag", partner)
        # the flagged survivor will be read back holding the flag: agreed, so not a change
        marks = rules.flagged.get(target)
        if marks:
            plan.values.update(marks)
    return plan


def _winner(rules: Rules, source: Side, record: SourceRecord, current: TargetRecord) -> Side | None:
    """The side whose value of a field changed in both wins; None: a conflict for a person.

    Under ``newest_wins`` an ERP row with no change time (no change-log entry: read as
    modified at :data:`NO_TIME`) has no newest side: it is queued, as under ``manual``.
    """
    if rules.conflict == "owner_wins":
        return rules.default_owner
    if rules.conflict == "newest_wins":
        erp_at = record.modified_at if source == "erp" else current.modified_at
        if erp_at <= NO_TIME:
            return None
        return source if record.modified_at >= current.modified_at else other(source)
    return None


def _conflict(name: str, base: Any, source: Side, mine: Any, theirs: Any) -> FieldConflict:
    if source == "erp":
        return FieldConflict(name, base, mine, theirs)
    return FieldConflict(name, base, theirs, mine)


__all__ = [
    "UNREAD",
    "ConflictPolicy",
    "DeletePolicy",
    "FieldConflict",
    "Intent",
    "Owner",
    "RecordPlan",
    "Rules",
    "SourceRecord",
    "TargetRecord",
    "flag_holds",
    "other",
    "plan_record",
]
