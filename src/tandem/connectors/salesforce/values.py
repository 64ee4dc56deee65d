"""Values between Salesforce's wire forms and Tandem's Python values.

Reading: REST JSON (parsed with ``Decimal`` for numbers, so currency keeps every digit) and Bulk
CSV text become ``datetime`` (aware UTC), ``date``, ``Decimal`` (currency), ``float`` (double,
percent), ``int``, ``bool`` or ``str`` according to the described field type.

Writing: Python values become Salesforce JSON: datetimes as ``2024-05-01T10:00:00.000+0000``,
dates as ``YYYY-MM-DD``, ``Decimal`` as an exact JSON number (:func:`dumps`), or CSV text for Bulk
(:func:`csv_text` from a Python value, :func:`csv_cell` from a value already in wire form).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from tandem.connectors.base import FieldInfo

__all__ = [
    "NULL_CELL",
    "csv_cell",
    "csv_text",
    "dumps",
    "from_csv",
    "from_json",
    "holds_null_cell",
    "parse_datetime",
    "to_wire",
    "wire_datetime",
]


def parse_datetime(text: str) -> datetime:
    """Parse a Salesforce datetime (``...T22:51:36.000+0000`` or ``...Z``) to aware UTC."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def wire_datetime(value: datetime) -> str:
    """A datetime in Salesforce's wire form, ``2024-05-01T10:00:00.000+0000`` (UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00: past the last instant a datetime holds
        raise ValueError(f"{value.isoformat()} is out of range in UTC") from None
    # the year by hand: strftime's %Y leaves one below 1000 unpadded ("999-01-01")
    return (
        f"{value.year:04d}"
        + value.strftime("-%m-%dT%H:%M:%S.")
        + f"{value.microsecond // 1000:03d}+0000"
    )


def from_json(value: Any, info: FieldInfo | None) -> Any:
    """Convert one REST JSON value to its Python form for the field ``info``."""
    if value is None:
        return None
    if info is None:
        return float(value) if isinstance(value, Decimal) else value
    kind = info.type
    if kind == "datetime" and isinstance(value, str):
        return parse_datetime(value)
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if kind == "currency":
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if kind in ("number", "percent"):
        return float(value)
    if kind == "integer":
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def from_csv(text: str, info: FieldInfo | None) -> Any:
    """Convert one Bulk CSV cell (empty means null) to its Python form."""
    if text == "":
        return None
    kind = info.type if info is not None else "string"
    try:
        if kind == "boolean":
            return text.lower() == "true"
        if kind == "datetime":
            return parse_datetime(text)
        if kind == "date":
            return date.fromisoformat(text[:10])
        if kind == "currency":
            return Decimal(text)
        if kind in ("number", "percent"):
            return float(text)
        if kind == "integer":
            return int(Decimal(text))
    except (ValueError, InvalidOperation):
        return text
    return text


def to_wire(value: Any) -> Any:
    """A Python value in its Salesforce JSON form (``Decimal`` kept for :func:`dumps`).

    Raises:
        ValueError: the value has no Salesforce form (a non-finite number, an unknown type).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value}")
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {value}")
        return value
    if isinstance(value, datetime):
        return wire_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):  # a multi-select picklist
        return ";".join(str(v) for v in value)
    raise ValueError(f"no Salesforce form for a {type(value).__name__}")


NULL_CELL = "#N/A"
"""The Bulk CSV cell that sets a field to null. An empty cell leaves the field as it is, so
an empty text (which Collections stores as null) is written as this too; a text that *is*
``#N/A`` cannot be written through Bulk at all (see :func:`holds_null_cell`)."""


def holds_null_cell(record: Mapping[str, Any]) -> bool:
    """Whether a record in wire form holds the text ``#N/A``, which Bulk CSV would read as
    null: such a record must be written through Collections, where it is plain text."""
    values = record.values()
    # A text, by far the most common value, is passed over before the (slow) ABC check: this
    # runs for every record of a Bulk upload.
    return NULL_CELL in values or any(
        NULL_CELL in v.values() for v in values if type(v) is not str and isinstance(v, Mapping)
    )


def csv_text(value: Any) -> str:
    """A value as a Bulk CSV cell (``#N/A`` sets a field to null, an empty text too)."""
    wire = to_wire(value)
    if wire is None or wire == "":
        return NULL_CELL
    if isinstance(wire, bool):
        return "true" if wire else "false"
    if isinstance(wire, Decimal):
        return format(wire, "f")
    return str(wire)


def _text_cell(value: str) -> str:
    return value or NULL_CELL


def _bool_cell(value: bool) -> str:
    return "true" if value else "false"


def _decimal_cell(value: Decimal) -> str:
    return format(value, "f")


_CELLS: dict[type, Callable[[Any], str]] = {
    str: _text_cell,
    int: str,
    float: repr,
    bool: _bool_cell,
    Decimal: _decimal_cell,
}


def csv_cell(wire: Any) -> str:
    """A value already in wire form (see :func:`to_wire`) as a Bulk CSV cell.

    The same text as :func:`csv_text`, found by one lookup on the exact type instead of a chain
    of ``isinstance`` tests: this runs once per cell of every Bulk upload.
    """
    if wire is None:
        return NULL_CELL
    cell = _CELLS.get(type(wire))
    return cell(wire) if cell is not None else csv_text(wire)


def dumps(value: Any) -> str:
    """Compact JSON where ``Decimal`` is written as an exact number, not a float."""
    if isinstance(value, Mapping):
        items = ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return json.dumps(to_wire(value))
    return json.dumps(value, allow_nan=False)
