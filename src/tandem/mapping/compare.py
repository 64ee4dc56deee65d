"""Value equality for no-op detection: strict on type families, normalised within them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None


_PLAIN: frozenset[type] = frozenset({str, int, bool, Decimal, date})
"""Types whose values, when both sides are exactly that type, are equal by plain ``==``."""


def values_equal(a: Any, b: Any) -> bool:
    """Tell whether two field values mean the same thing.

    * numbers compare by value whatever their type: ``Decimal("10.0") == 10 == 10.0``
      (floats through their shortest repr, so ``0.1`` equals ``Decimal("0.1")``);
      booleans are not numbers (``True != 1``);
    * datetimes compare by instant (a naive one is taken as UTC); a date never equals a datetime;
    * strings compare exactly (no trimming, no case folding);
    * pydantic models, mappings and sequences compare item by item.
    """
    if a is None or b is None:
        return a is None and b is None
    kind = type(a)
    if kind is type(b) and kind in _PLAIN:
        return bool(a == b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na == nb
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, datetime) or isinstance(b, datetime):
        if not (isinstance(a, datetime) and isinstance(b, datetime)):
            return False
        return _instant(a) == _instant(b)
    if isinstance(a, date) and isinstance(b, date):
        return a == b
    if isinstance(a, BaseModel) or isinstance(b, BaseModel):
        return values_equal(_plain(a), _plain(b))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if _is_sequence(a) and _is_sequence(b):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def comparable(value: Any) -> Any:
    """``value`` in the form :func:`values_equal` compares it by, for hashing.

    Two values :func:`values_equal` calls equal have equal canonical hashes
    (:func:`tandem.codec.stable_hash`) in this form: every number becomes a ``Decimal`` (a float
    through its shortest repr: a system may give a double as ``12.35`` where the other gives
    ``Decimal("12.35")``), every date-time an aware UTC one, a model its fields; containers
    are converted item by item. Text, booleans and ``None`` stay as they are.
    """
    kind = type(value)
    if value is None or kind is str or kind is bool:
        return value
    number = _number(value)
    if number is not None:
        return number
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, BaseModel):
        return comparable(value.model_dump())
    if isinstance(value, Mapping):
        return {key: comparable(item) for key, item in value.items()}
    if _is_sequence(value):
        return [comparable(item) for item in value]
    return value


def _instant(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _plain(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


__all__ = ["comparable", "values_equal"]
