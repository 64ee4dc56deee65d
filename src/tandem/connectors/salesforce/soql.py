"""A small SOQL builder for the connector's own queries.

Only what the connector needs: a ``SELECT`` over validated identifiers, properly escaped
literals (strings, numbers, booleans, dates and UTC datetimes such as
``2024-05-01T10:00:00.000Z``), ``IN`` lists, and the compound-cursor condition
``SystemModstamp > :t OR (SystemModstamp = :t AND Id > :id)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from tandem.connectors.base import Cursor

__all__ = [
    "Select",
    "cursor_condition",
    "identifier",
    "in_condition",
    "literal",
    "quote",
    "soql_datetime",
]

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def identifier(name: str) -> str:
    """Return ``name`` if it is a safe SOQL identifier (``Name``, ``Account.ERP_Id__c``).

    Raises:
        ValueError: the name could smuggle SOQL in.
    """
    if not _IDENT.match(name):
        raise ValueError(f"not a valid SOQL identifier: {name!r}")
    return name


def quote(value: str) -> str:
    """A SOQL string literal: single-quoted, with backslash escapes for quotes and controls."""
    return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal in UTC with milliseconds: ``2024-05-01T10:00:00.000Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    # the year by hand: strftime's %Y leaves one below 1000 unpadded ("999-01-01")
    return (
        f"{value.year:04d}"
        + value.strftime("-%m-%dT%H:%M:%S.")
        + f"{value.microsecond // 1000:03d}Z"
    )


def literal(value: object) -> str:
    """Render a Python value as a SOQL literal.

    Raises:
        TypeError: the value has no SOQL literal form.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"no SOQL literal for {type(value).__name__}")


def in_condition(field: str, values: Iterable[object]) -> str:
    """``field IN (v1, v2, ...)`` with every value escaped."""
    rendered = ", ".join(literal(v) for v in values)
    return f"{identifier(field)} IN ({rendered})"


def cursor_condition(cursor: Cursor, *, modstamp: str = "SystemModstamp", key: str = "Id") -> str:
    """Rows strictly after ``cursor`` in ``(modstamp, key)`` order."""
    t = soql_datetime(cursor.modified_at)
    m, k = identifier(modstamp), identifier(key)
    if not cursor.key:
        return f"{m} >= {t}"
    return f"({m} > {t} OR ({m} = {t} AND {k} > {quote(cursor.key)}))"


class Select:
    """An immutable-ish ``SELECT`` builder.

    Example:
        >>> Select("Account", ["Id", "Name"]).where("Name = 'x'").order_by("Id").limit(5).soql()
        "SELECT Id, Name FROM Account WHERE Name = 'x' ORDER BY Id LIMIT 5"
    """

    def __init__(self, sobject: str, fields: Sequence[str]) -> None:
        self._sobject = identifier(sobject)
        seen: dict[str, None] = {}
        for name in fields:
            seen.setdefault(identifier(name), None)
        if not seen:
            raise ValueError("a SELECT needs at least one field")
        self._fields = list(seen)
        self._where: list[str] = []
        self._order: list[str] = []
        self._limit: int | None = None

    def where(self, condition: str) -> Select:
        """AND a condition (already rendered with :func:`literal` / :func:`quote`)."""
        self._where.append(condition)
        return self

    def order_by(self, *fields: str) -> Select:
        """Order by these fields, ascending."""
        self._order.extend(identifier(f) for f in fields)
        return self

    def limit(self, n: int | None) -> Select:
        """At most ``n`` rows."""
        if n is not None and n < 1:
            raise ValueError("LIMIT must be positive")
        self._limit = n
        return self

    def soql(self) -> str:
        """The query text."""
        parts = [f"SELECT {', '.join(self._fields)} FROM {self._sobject}"]
        if self._where:
            parts.append("WHERE " + " AND ".join(self._where))
        if self._order:
            parts.append("ORDER BY " + ", ".join(self._order))
        if self._limit is not None:
            parts.append(f"LIMIT {self._limit}")
        return " ".join(parts)

    __str__ = soql
