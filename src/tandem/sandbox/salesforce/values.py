"""Field values: wire JSON / CSV text in, stored SQLite values out, and back.

Stored forms: text as ``str``; numbers as ``int``/``float``; booleans as 0/1; dates as
``YYYY-MM-DD``; datetimes as ``YYYY-MM-DDTHH:MM:SS.fff+0000`` in UTC, so that string order is time
order and the stored text is already the wire text; ids always in their 18-character form.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from tandem.sandbox.salesforce.errors import RecordError
from tandem.sandbox.salesforce.ids import to_18
from tandem.sandbox.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef

__all__ = [
    "coerce",
    "format_datetime",
    "from_csv",
    "parse_datetime",
    "to_csv",
    "to_wire",
]

_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Close to what Salesforce accepts: local@domain.tld, no spaces.
_EMAIL_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_CSV_TRUE = frozenset({"true", "1", "yes", "y"})
_CSV_FALSE = frozenset({"false", "0", "no", "n"})


def format_datetime(moment: datetime) -> str:
    """Return the wire/stored text of an instant: ``2024-05-01T10:00:00.000+0000`` (UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime | None:
    """Parse a datetime in the forms Salesforce accepts (``Z``, ``+0000``, ``+00:00``, naive=UTC).

    Args:
        text: the datetime text.

    Returns:
        A UTC-aware datetime, or None when ``text`` is not a datetime.
    """
    match = _DATETIME_RE.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            micro,
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset_min = int(digits[:2]) * 60 + int(digits[2:4] or 0)
        moment = moment - sign * timedelta(minutes=offset_min)
    return moment


def _is_date(text: str) -> bool:
    if not _DATE_RE.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _type_error(f: FieldDef, value: Any) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{f.label}: value not of required type: {value}",
        [f.name],
    )


def coerce(f: FieldDef, value: Any) -> Any:
    """Check a wire JSON value against a field and return its stored form.

    Args:
        f: the field.
        value: the JSON value (``None`` allowed; nillability is checked elsewhere).

    Returns:
        The value to store.

    Raises:
        RecordError: wrong type, too long, bad picklist value, bad email, number out of range.
    """
    if value is None:
        return None
    ftype = f.type
    if ftype in TEXT_TYPES:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _type_error(f, value)
        text = value if isinstance(value, str) else str(value)
        if text == "":
            return None  # Salesforce stores an empty text value as null
        return _check_text(f, text)
    if ftype in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(f, value)
        return _check_number(f, value)
    if ftype == "boolean":
        if not isinstance(value, bool):
            raise _type_error(f, value)
        return 1 if value else 0
    if not isinstance(value, str):
        raise _type_error(f, value)
    if ftype == "date":
        text = value[:10] if parse_datetime(value) and len(value) > 10 else value
        if not _is_date(text):
            raise _type_error(f, value)
        return text
    if ftype == "datetime":
        moment = parse_datetime(value)
        if moment is None:
            raise _type_error(f, value)
        return format_datetime(moment)
    # id / reference
    canonical = to_18(value)
    if canonical is None:
        raise RecordError(
            "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name]
        )
    return canonical


def _check_text(f: FieldDef, text: str) -> str:
    if f.length and len(text) > f.length:
        raise RecordError(
            "STRING_TOO_LONG",
            f"{f.label}: data value too large: {text[:40]} (max length={f.length})",
            [f.name],
        )
    if f.type == "picklist" and f.restricted and f.picklist_value(text) is None:
        raise RecordError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{f.label}: bad value for restricted picklist field: {text}",
            [f.name],
        )
    if f.type == "multipicklist" and f.restricted:
        for part in text.split(";"):
            if f.picklist_value(part) is None:
                raise RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {part}",
                    [f.name],
                )
    if f.type == "email" and text and not _EMAIL_RE.fullmatch(text):
        raise RecordError(
            "INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {text}", [f.name]
        )
    return text


def _check_number(f: FieldDef, value: int | float) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise _type_error(f, value)
    if f.type == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise _type_error(f, value)
            value = int(value)
    else:
        value = float(value)
        if round(value, f.scale) != value:
            # Salesforce rounds half up to the field's scale (round() would round half even).
            step = Decimal(1).scaleb(-f.scale)
            value = float(Decimal(repr(value)).quantize(step, ROUND_HALF_UP))
    if f.precision and abs(value) >= 10 ** (f.precision - f.scale):
        raise RecordError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{f.label}: value outside of valid range on numeric field: {value}",
            [f.name],
        )
    return value


def from_csv(f: FieldDef, text: str) -> Any:
    """Turn one Bulk CSV cell into the JSON value ``coerce`` expects.

    Args:
        f: the field.
        text: the cell; ``#N/A`` means null (an empty cell is handled by the caller).

    Returns:
        The JSON-typed value.

    Raises:
        RecordError: the text is not a value of the field's type.
    """
    if text == "#N/A":
        return None
    ftype = f.type
    if ftype in NUMBER_TYPES:
        try:
            number = float(text)
        except ValueError:
            raise _type_error(f, text) from None
        return int(number) if ftype == "int" and number.is_integer() else number
    if ftype == "boolean":
        lowered = text.strip().lower()
        if lowered in _CSV_TRUE:
            return True
        if lowered in _CSV_FALSE:
            return False
        raise _type_error(f, text)
    return text


def to_wire(f: FieldDef, stored: Any) -> Any:
    """Return the JSON value of a stored value."""
    if stored is None:
        return None
    if f.type == "boolean":
        return bool(stored)
    if f.type in NUMBER_TYPES and f.type != "int":
        return float(stored)
    return stored


def to_csv(f: FieldDef, stored: Any) -> str:
    """Return the Bulk query CSV text of a stored value (``""`` for null)."""
    if stored is None:
        return ""
    if f.type == "boolean":
        return "true" if stored else "false"
    if isinstance(stored, float):
        return repr(stored) if not stored.is_integer() else str(int(stored))
    return str(stored)
