"""Decimal places: numbers kept to what a native numeric field can hold.

A Salesforce currency, number or percent field has a scale (its decimal places) and rounds a
value with more places half up (``12.345`` is stored as ``12.35``); a SQL ``NUMERIC(12, 2)``
column rounds too. Tandem rounds such values itself, the same way, so the state it records is
what the system holds, and it compares a field's values at the scale both systems can hold:
the ERP's ``12.345`` and the CRM's ``12.35`` are then one value, neither drift nor a change.

A native field's scale comes from its system's describe (:func:`native_scale`); a field whose
describe gives none (a text field, a SQL ``FLOAT``, an unconstrained ``NUMERIC``) is not rounded.

Datetimes the same way, in fractional-second digits (:func:`native_fraction`): MariaDB's
``DATETIME`` keeps whole seconds unless declared ``DATETIME(3)``, PostgreSQL's
``timestamp(0)`` too, and a CRM datetime's milliseconds would be dropped by the ERP, read back
as a change and written over the CRM's value. A datetime is cut to the digits the target keeps
before it is written (so the database has nothing left to round or cut, whichever it does) and
read cut to the digits both systems keep: the CRM keeps its milliseconds, and they are no
change. The digits travel as :attr:`FieldInfo.scale` (digits after the point, as a number's).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import TYPE_CHECKING, Any

from tandem.connectors.base import EntitySchema, FieldInfo

if TYPE_CHECKING:
    from tandem.config import EntitySpec, FieldSpec, Side

SCALED_TYPES: frozenset[str] = frozenset({"number", "currency", "percent"})
"""Native field types whose described scale Tandem rounds to (integers need no rounding)."""


def native_scale(info: FieldInfo | None) -> int | None:
    """The decimal places a described numeric field holds; None: not known or not rounded.

    A connector gives the scale in :attr:`FieldInfo.scale`; only number, currency and
    percent fields are rounded.
    """
    if info is None or info.type not in SCALED_TYPES:
        return None
    scale = info.scale
    if scale is None or scale < 0:
        return None
    return scale


FRACTION_TYPES: frozenset[str] = frozenset({"datetime"})
"""Native field types whose described scale is the fractional-second digits they keep."""
_MICRO_DIGITS = 6
"""The fractional-second digits a Python ``datetime`` holds (microseconds)."""


def native_fraction(info: FieldInfo | None) -> int | None:
    """The fractional-second digits a described datetime field keeps, when fewer than a
    ``datetime`` holds; None: not known, not a datetime, or nothing to cut.
    """
    if info is None or info.type not in FRACTION_TYPES:
        return None
    digits = info.scale
    if digits is None or not 0 <= digits < _MICRO_DIGITS:
        return None
    return digits


def fit_fraction(value: datetime, digits: int) -> datetime:
    """``value`` cut to ``digits`` fractional-second digits (``10:00:00.750`` at 0 digits is
    ``10:00:00``: the second it fell in, never the next day's first)."""
    if digits >= _MICRO_DIGITS:
        return value
    extra = value.microsecond % 10 ** (_MICRO_DIGITS - digits)
    return value.replace(microsecond=value.microsecond - extra) if extra else value


def round_half_up(number: Decimal, places: int) -> Decimal:
    """``number`` rounded to ``places`` decimal places, half away from zero (as Salesforce).

    Exact whatever the number's length (the default context would refuse more than 28 digits).
    """
    _, digits, exponent = number.as_tuple()
    widen = exponent + places if isinstance(exponent, int) else 0
    context = Context(prec=len(digits) + max(widen, 0) + 2, rounding=ROUND_HALF_UP)
    return number.quantize(Decimal(1).scaleb(-places), context=context)


def fit_scale(value: Any, places: int) -> Any:
    """``value`` as a field of ``places`` decimal places holds it.

    A ``Decimal`` or ``float`` with more places is rounded half up (a float stays a float); a
    ``datetime`` with more fractional-second digits is cut (:func:`fit_fraction`); anything
    else, and a value that fits, is returned as it is.
    """
    kind = type(value)
    if kind is Decimal:
        number: Decimal = value
    elif kind is float:
        if value != value or value in (float("inf"), float("-inf")):
            return value
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, datetime):
        return fit_fraction(value, places)
    else:
        return value
    if not number.is_finite():
        return value
    exponent = number.as_tuple().exponent
    if not isinstance(exponent, int) or exponent >= -places:
        return value
    rounded = round_half_up(number, places)
    return float(rounded) if kind is float else rounded


def scaled_natives(entity: EntitySpec, side: Side) -> dict[str, str]:
    """Canonical field -> the native field of ``side`` its value is stored in, as it is.

    Only fields whose value is written and read unchanged can be rounded to the native field's
    scale: not a reference, not a value-mapped field, not an expression. The first spec of a
    field mapped twice decides, as when writing.
    """
    found: dict[str, str] = {}
    seen: set[str] = set()
    for field in entity.fields:
        if field.field in seen:
            continue
        seen.add(field.field)
        native = _plain_native(field, side)
        if native is not None:
            found[field.field] = native
    return found


def _plain_native(field: FieldSpec, side: Side) -> str | None:
    if field.ref is not None or field.value_map is not None:
        return None
    return field.native(side)


def field_scales(entity: EntitySpec, side: Side, schema: EntitySchema) -> dict[str, int]:
    """Canonical field -> the scale of its native field in ``schema`` (fields with one): a
    number's decimal places, a datetime's fractional-second digits."""
    scales: dict[str, int] = {}
    for name, native in scaled_natives(entity, side).items():
        info = lookup(schema, native)
        scale = native_scale(info)
        if scale is None:
            scale = native_fraction(info)
        if scale is not None:
            scales[name] = scale
    return scales


def common_scales(per_side: Mapping[Side, Mapping[str, int]]) -> dict[str, int]:
    """Canonical field -> the fewest decimal places any side holds it with."""
    common: dict[str, int] = {}
    for scales in per_side.values():
        for name, scale in scales.items():
            known = common.get(name)
            common[name] = scale if known is None else min(known, scale)
    return common


def lookup(schema: EntitySchema, name: str) -> FieldInfo | None:
    """The description of the native field ``name`` (matched case-insensitively)."""
    info = schema.fields.get(name)
    if info is not None:
        return info
    lowered = name.lower()
    return next((f for n, f in schema.fields.items() if n.lower() == lowered), None)


__all__ = [
    "FRACTION_TYPES",
    "SCALED_TYPES",
    "common_scales",
    "field_scales",
    "fit_fraction",
    "fit_scale",
    "lookup",
    "native_fraction",
    "native_scale",
    "round_half_up",
    "scaled_natives",
]
