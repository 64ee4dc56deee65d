"""Field plans: what :class:`~tandem.mapping.Mapper` needs of an entity's fields, resolved once.

Mapping a record asks the same questions of every field every time: its native name or
expression on a side, its default, whether a value map or a reference applies, which validator
checks it, whether a money amount brings a currency. A plan answers them once per entity and
side, so the per-record work is only the record's own values.

Plans are pure functions of an :class:`~tandem.config.EntitySpec` and of the decimal places
its numeric fields are kept to (:mod:`~tandem.mapping.scale`); a spec is not changed once it is
in use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import partial
from typing import TYPE_CHECKING, Any

from tandem.mapping.expressions import Expression
from tandem.mapping.scale import fit_scale
from tandem.model import canonical_field, validate_field, validator_for

if TYPE_CHECKING:
    from tandem.config import EntitySpec, FieldSpec, Side


@dataclass(frozen=True, slots=True)
class ReadStep:
    """How one canonical field is read from one side's native record.

    Attributes:
        field: the field spec.
        name: the canonical field.
        native: the native field read (None: an expression or nothing on this side).
        expr: the expression computing the value on this side, if any.
        default: the value used when the side has none (None: no default).
        translate: a value map turns the native value into the ERP vocabulary (CRM reads).
        ref: the entity a reference points to, if the field is one.
        validate: the canonical field's validator (:func:`tandem.model.validator_for`), then the
            rounding to :attr:`scale` when there is one.
        required: the record cannot exist without a value; None when the canonical model does
            not know the field (then the model's lookup raises why).
        plain: the value is the native field's, as it is: no expression, default, value map or
            reference (most fields).
        scale: the decimal places both systems hold the field with: a number read with more is
            rounded half up to them (None: not rounded).
    """

    field: FieldSpec
    name: str
    native: str | None
    expr: Expression | None
    default: Any
    translate: bool
    ref: str | None
    validate: Callable[[Any], Any]
    required: bool | None
    plain: bool
    scale: int | None = None


@dataclass(frozen=True, slots=True)
class MoneyCheck:
    """A money amount that needs its currency on a read.

    Attributes:
        amount: the amount field (``x.amount``).
        currency: its currency field (``x.currency``).
        needed: the currency has a source on this side (readable or a default), so an amount
            without one is an error rather than a partial read.
    """

    amount: str
    currency: str
    needed: bool


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """Reading one side's native records of an entity: one step per field, in field order.

    Attributes:
        steps: the steps.
        money: the money amounts that need their currency.
        reads: per step, in order: the step, its field, the native field when the step is
            :attr:`~ReadStep.plain` (else None) and its validator; what the loop over a
            record's fields reads.
        flag: the native field the entity's delete policy flags on this side, where Tandem
            writes it (it is read with the record, mapped or not); None: no flag.
    """

    steps: tuple[ReadStep, ...]
    money: tuple[MoneyCheck, ...]
    reads: tuple[tuple[ReadStep, str, str | None, Callable[[Any], Any]], ...] = ()
    flag: str | None = None

    def __post_init__(self) -> None:
        if not self.reads:
            reads = tuple(
                (step, step.name, step.native if step.plain else None, step.validate)
                for step in self.steps
            )
            object.__setattr__(self, "reads", reads)


@dataclass(frozen=True, slots=True)
class WriteStep:
    """How one canonical field is written as a native value of one side.

    Attributes:
        field: the field spec.
        native: the native field written (None: not written on this side).
        ref: the entity a reference points to, if the field is one.
        value_map: the value map translating the value, if any.
        plain: the canonical value is written as it is (no reference, no value map, no
            rounding).
        scale: the decimal places the native field holds: a number with more is rounded half up
            to them before it is written, as the system would round it (None: not rounded).
    """

    field: FieldSpec
    native: str | None
    ref: str | None
    value_map: str | None
    plain: bool
    scale: int | None = None


@dataclass(frozen=True, slots=True)
class WritePlan:
    """Writing canonical fields of an entity as one side's native values.

    Attributes:
        steps: canonical field -> its step (the first spec of a field mapped twice).
        companions: money amount field -> the currency field written along with it.
        shared: two steps write the same native field (so a record may give it two values).
        writes: canonical field -> its step's native field (None: not written) and whether
            the step is :attr:`~WriteStep.plain`; what the loop over a record's fields reads.
    """

    steps: Mapping[str, WriteStep]
    companions: Mapping[str, str]
    shared: bool = dataclass_field(init=False)
    writes: Mapping[str, tuple[str | None, bool]] = dataclass_field(init=False)

    def __post_init__(self) -> None:
        natives = [s.native for s in self.steps.values() if s.native is not None]
        object.__setattr__(self, "shared", len(set(natives)) != len(natives))
        writes = {name: (step.native, step.plain) for name, step in self.steps.items()}
        object.__setattr__(self, "writes", writes)


def read_plan(entity: EntitySpec, side: Side, scales: Mapping[str, int] | None = None) -> ReadPlan:
    """The plan for reading ``side``'s native records of ``entity``.

    Args:
        entity: the entity.
        side: the side read.
        scales: canonical field -> the decimal places its values are kept to (the fewest
            either system holds it with); a number read with more is rounded half up.
    """
    scales = scales or {}
    steps = tuple(
        _read_step(entity, field, side, scales.get(field.field)) for field in entity.fields
    )
    money: list[MoneyCheck] = []
    for name in dict.fromkeys(f.field for f in entity.fields):
        companion = currency_companion(entity, name)
        if companion is not None:
            currency = entity.field(companion)
            needed = currency.readable(side) or currency.has_default
            money.append(MoneyCheck(name, companion, needed))
    flag = entity.delete.flag_field(side) if entity.writes_to(side) else None
    return ReadPlan(steps, tuple(money), flag=flag)


def _read_step(entity: EntitySpec, field: FieldSpec, side: Side, scale: int | None) -> ReadStep:
    validate: Callable[[Any], Any]
    required: bool | None
    try:
        validate = validator_for(entity.model, field.field)
        required = field.required or canonical_field(entity.model, field.field).required
    except ValueError:  # not a field of the model: every value fails, saying why
        validate = partial(validate_field, entity.model, field.field)
        required = True if field.required else None
    if scale is not None:
        validate = partial(_validate_scaled, validate, scale)
    expr = field.expression(side)
    native = None if expr is not None else field.native(side)
    default = field.default if field.has_default else None
    translate = field.value_map is not None and side == "crm"
    return ReadStep(
        field=field,
        name=field.field,
        native=native,
        expr=expr,
        default=default,
        translate=translate,
        ref=field.ref,
        validate=validate,
        required=required,
        plain=native is not None and default is None and not translate and field.ref is None,
        scale=scale,
    )


def _validate_scaled(validate: Callable[[Any], Any], scale: int, value: Any) -> Any:
    """``validate(value)`` rounded to ``scale`` decimal places."""
    return fit_scale(validate(value), scale)


def write_plan(
    entity: EntitySpec, side: Side, scales: Mapping[str, int] | None = None
) -> WritePlan:
    """The plan for writing ``entity``'s canonical fields as ``side``'s native values.

    Args:
        entity: the entity.
        side: the side written.
        scales: canonical field -> the decimal places its native field on ``side`` holds; a
            number with more is rounded half up before it is written.
    """
    scales = scales or {}
    steps: dict[str, WriteStep] = {}
    companions: dict[str, str] = {}
    for field in entity.fields:
        if field.field in steps:
            continue
        scale = scales.get(field.field) if field.ref is None and field.value_map is None else None
        plain = field.ref is None and field.value_map is None and scale is None
        steps[field.field] = WriteStep(
            field, field.native(side), field.ref, field.value_map, plain, scale
        )
        companion = currency_companion(entity, field.field)
        if companion is not None:
            companions[field.field] = companion
    return WritePlan(steps, companions)


def currency_companion(entity: EntitySpec, name: str) -> str | None:
    """``x.currency`` for a Money amount ``x.amount`` the entity maps; else None."""
    if not name.endswith(".amount"):
        return None
    parent = name.removesuffix(".amount")
    try:
        if canonical_field(entity.model, parent).kind != "money":
            return None
    except ValueError:
        return None
    companion = f"{parent}.currency"
    return companion if any(f.field == companion for f in entity.fields) else None


__all__ = [
    "MoneyCheck",
    "ReadPlan",
    "ReadStep",
    "WritePlan",
    "WriteStep",
    "currency_companion",
    "read_plan",
    "write_plan",
]
