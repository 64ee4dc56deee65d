"""The value a person types for a conflict (``conflicts resolve ID --value X``), as its field's.

The command line gives text; a connector writes a value by its Python type (a ``Decimal`` as a
number, a ``date`` as a date), and a system refuses text for a number or date field. A field of
the canonical model is parsed by its model type. A custom field (``x_...``) has none: it is
parsed as its described native fields are typed (what each system takes), else as the values
in conflict are (what the reads gave, for a field no description types), else kept as text.
Text that does not parse is refused naming the field and the value, before anything is read
or written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from tandem.config import Side
from tandem.connectors.base import FieldType
from tandem.errors import ConfigError
from tandem.model import canonical_field, validate_field
from tandem.pipeline.context import EntityContext
from tandem.store import Conflict

Kind = Literal["bool", "int", "decimal", "date", "datetime"]
"""What a custom field's typed text is parsed as (anything else stays text)."""

_NATIVE_KINDS: Final[dict[FieldType, Kind]] = {
    "boolean": "bool",
    "integer": "int",
    "number": "decimal",
    "currency": "decimal",
    "percent": "decimal",
    "date": "date",
    "datetime": "datetime",
}
"""Native field type -> the kind a value written to it takes (the text types take text)."""

_TRUE: Final = frozenset({"true", "yes", "y", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "off"})


def typed_choice(ctx: EntityContext, conflict: Conflict, value: Any) -> Any:
    """``value`` as conflict ``conflict``'s field takes it (text parsed, see the module).

    Raises:
        ConfigError: the value does not fit the field; it names the field and the value.
    """
    name = conflict.field
    if not canonical_field(ctx.spec.model, name).custom:
        try:
            return validate_field(ctx.spec.model, name, value)
        except ValueError as exc:
            raise ConfigError(f"value {value!r} for {name}: {exc}") from exc
    if not isinstance(value, str):
        return value  # typed by the caller already
    values = (conflict.erp_value, conflict.crm_value, conflict.base_value)
    kind = _pick([*_kinds_described(ctx, name), *_kinds_of_values(values)])
    if kind is None:
        return value
    try:
        return _PARSERS[kind](value.strip())
    except ValueError as exc:
        raise ConfigError(f"value {value!r} for {name}: {exc}") from None


def _pick(kinds: Sequence[Kind]) -> Kind | None:
    """The kind to parse as: the first one, but a number when one side holds a fraction and
    the other whole numbers (a fraction the whole side cannot take is its own to refuse)."""
    if not kinds:
        return None
    if "decimal" in kinds and set(kinds) <= {"int", "decimal"}:
        return "decimal"
    return kinds[0]


def _kinds_of_values(values: Iterable[Any]) -> list[Kind]:
    """The kinds of the typed values among ``values`` (None and text say nothing)."""
    kinds: list[Kind] = []
    for value in values:
        # bool before int and datetime before date: each is a subclass of the other
        if isinstance(value, bool):
            kinds.append("bool")
        elif isinstance(value, int):
            kinds.append("int")
        elif isinstance(value, (Decimal, float)):
            kinds.append("decimal")
        elif isinstance(value, datetime):
            kinds.append("datetime")
        elif isinstance(value, date):
            kinds.append("date")
    return kinds


def _kinds_described(ctx: EntityContext, name: str) -> list[Kind]:
    """The kinds of the typed native fields ``name`` is bound to, as described (the ERP's
    first): what each system takes, so they come before the values read."""
    spec = next((f for f in ctx.spec.fields if f.field == name), None)
    if spec is None:
        return []
    kinds: list[Kind] = []
    sides: tuple[Side, Side] = ("erp", "crm")
    for side in sides:
        native, schema = spec.native(side), ctx.schemas.get(side)
        if native is None or schema is None:
            continue
        info = schema.fields.get(native) or next(
            (f for f in schema.fields.values() if f.name.lower() == native.lower()), None
        )
        if info is not None and info.type in _NATIVE_KINDS:
            kinds.append(_NATIVE_KINDS[info.type])
    return kinds


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected true or false")


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected a whole number") from None


def _decimal(text: str) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError("expected a number") from None
    if not number.is_finite():
        raise ValueError("expected a finite number")
    return number


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"expected a date as YYYY-MM-DD ({exc})") from None


def _datetime(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"expected a date and time as YYYY-MM-DDTHH:MM:SS+00:00 ({exc})") from None
    if instant.tzinfo is None:
        raise ValueError("expected a date and time with its offset (e.g. +00:00 or Z)")
    return instant.astimezone(UTC)


_PARSERS: Final[dict[Kind, Callable[[str], Any]]] = {
    "bool": _boolean,
    "int": _integer,
    "decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
}


__all__ = ["typed_choice"]
