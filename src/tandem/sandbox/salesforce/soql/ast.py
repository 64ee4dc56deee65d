"""SOQL syntax tree (names as written; the compiler resolves them against the schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Aggregate",
    "And",
    "Comparison",
    "Condition",
    "DateLiteral",
    "FieldPath",
    "Fields",
    "Literal_",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "SelectItem",
    "SemiJoin",
    "SubQuery",
    "Value",
]

LiteralKind = Literal["string", "number", "boolean", "null", "date", "datetime"]


@dataclass(frozen=True)
class FieldPath:
    """A field, possibly through parent relationships: ``Account.Owner.Name``."""

    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        """The path as written."""
        return ".".join(self.parts)


@dataclass(frozen=True)
class Aggregate:
    """``COUNT()``, ``COUNT(Id)``, ``MAX(Amount)`` ... with an optional alias."""

    function: str
    argument: FieldPath | None
    alias: str | None
    pos: int


@dataclass(frozen=True)
class Fields:
    """``FIELDS(ALL)``, ``FIELDS(STANDARD)`` or ``FIELDS(CUSTOM)``."""

    kind: str
    pos: int


@dataclass(frozen=True)
class SubQuery:
    """A child relationship sub-query in the SELECT list: ``(SELECT Id FROM Contacts)``."""

    query: Query
    pos: int


SelectItem = FieldPath | Aggregate | Fields | SubQuery


@dataclass(frozen=True)
class Literal_:  # trailing underscore: typing.Literal is imported here
    """A literal value; ``raw`` is the token text (string bodies still escaped)."""

    kind: LiteralKind
    raw: str
    pos: int


@dataclass(frozen=True)
class DateLiteral:
    """A relative date literal: ``TODAY``, ``LAST_N_DAYS:7`` ..."""

    name: str
    n: int | None
    pos: int


Value = Literal_ | DateLiteral


@dataclass(frozen=True)
class SemiJoin:
    """``Id IN (SELECT AccountId FROM Contact WHERE ...)``."""

    query: Query
    pos: int


@dataclass(frozen=True)
class Comparison:
    """``field op value``; op is one of = != < <= > >= LIKE IN NOT_IN INCLUDES EXCLUDES.

    In a HAVING clause the left side may be an aggregate (``COUNT(Id) > 1``).
    """

    field: FieldPath | Aggregate
    op: str
    values: tuple[Value, ...] | SemiJoin
    pos: int


@dataclass(frozen=True)
class And:
    """All of the parts hold."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    """Any of the parts holds."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """The part does not hold."""

    part: Condition


Condition = Comparison | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    """One ``ORDER BY`` key (an aggregate in a grouped query)."""

    field: FieldPath | Aggregate
    descending: bool = False
    nulls_first: bool | None = None


@dataclass(frozen=True)
class Query:
    """A whole SELECT statement."""

    select: tuple[SelectItem, ...]
    sobject: str
    sobject_pos: int
    where: Condition | None = None
    group_by: tuple[FieldPath, ...] = ()
    having: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None
    text: str = field(default="", compare=False)
