"""Which key columns have an exact text, and how messages name their types."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from tandem.connectors.sql.capture.common import KeyKind
from tandem.connectors.sql.domains import NO_ENUM_DOMAIN_KEY, base_type, is_enum_domain


def key_kind(column_type: sa.types.TypeEngine[Any]) -> KeyKind | None:
    """How values of a key column of ``column_type`` (as reflected) become text.

    ``None``: no text of its values is exact (floating point, binary, JSON, arrays, intervals,
    network addresses, bit strings, MariaDB ``SET``, ``time with time zone``, a type unknown to
    SQLAlchemy). A dialect may support fewer kinds (:attr:`_Dialect.KINDS`).
    """
    if is_enum_domain(column_type):
        return None
    kind = base_type(column_type)  # a domain's values are its base type's
    if isinstance(kind, mysql.SET):  # read as a Python set of strings
        return None
    if isinstance(kind, sa.Boolean):
        return "boolean"
    if isinstance(kind, sa.Float):  # before Numeric, its base class
        return None
    if isinstance(kind, sa.Integer | sa.Numeric | mysql.YEAR):
        if getattr(kind, "zerofill", False):
            return "zerofill"
        return "integer" if isinstance(kind, sa.Integer | mysql.YEAR) else "decimal"
    if isinstance(kind, sa.Uuid):
        return "uuid"
    if isinstance(kind, sa.String):  # text, CHAR, VARCHAR, enums
        return "text"
    if isinstance(kind, sa.DateTime):
        instant = bool(getattr(kind, "timezone", False)) or isinstance(kind, mysql.TIMESTAMP)
        return "instant" if instant else "datetime"
    if isinstance(kind, sa.Date):
        return "date"
    if isinstance(kind, sa.Time) and not getattr(kind, "timezone", False):
        return "time"
    return None


def _no_exact_text(column_type: sa.types.TypeEngine[Any]) -> str:
    if is_enum_domain(column_type):
        return NO_ENUM_DOMAIN_KEY
    column_type = base_type(column_type)
    if isinstance(column_type, sa.Float):
        return (
            "a floating-point value has no exact text (the database and Python print it "
            "differently)"
        )
    if isinstance(column_type, sa.types.NullType):
        return "Tandem cannot tell what text the reader gets for its values"
    return "its values have no text that Tandem can make equal to the reader's"


def _type_name(column_type: sa.types.TypeEngine[Any], conn: sa.Connection) -> str:
    """``of type <its SQL name>`` for a message (a domain's, then its base type's)."""
    if isinstance(column_type, sa.types.NullType):
        return "of a type unknown to SQLAlchemy (or none declared)"
    name = f"of type {_sql_name(column_type, conn)}"
    base = base_type(column_type)
    return name if base is column_type else f"{name} (a domain over {_sql_name(base, conn)})"


def _sql_name(column_type: sa.types.TypeEngine[Any], conn: sa.Connection) -> str:
    if isinstance(column_type, postgresql.DOMAIN):
        return str(column_type.name)
    try:
        return str(column_type.compile(dialect=conn.dialect))
    except Exception:  # a type the dialect cannot render: its class then
        return type(column_type).__name__
