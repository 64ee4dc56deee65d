"""PostgreSQL domains: a column of a domain is a column of the domain's base type.

The driver reads a domain's values as its base type's, and the database compares them with,
and assigns to them, values of that type. SQLAlchemy reflects such a column as a ``DOMAIN``
(whose Python type is ``object``, and whose base type has lost its length, precision and
scale): taken as it is, describe would call every such column ``other`` and keep no number
to its places, the writer would bind keys and values as text (``operator does not exist:
<domain> = character varying``) and a ``timestamptz`` domain as a wall time.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


def base_type(kind: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    """The type of a column's values: a domain's base type (through domains over domains),
    any other type itself."""
    while isinstance(kind, postgresql.DOMAIN):
        kind = kind.data_type
    return kind


_MODIFIERS = sa.text(
    """
    WITH RECURSIVE chain(typtype, typbasetype, typtypmod) AS (
        SELECT t.typtype, t.typbasetype, t.typtypmod
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_type t ON t.oid = a.atttypid
        WHERE c.relname = :table AND n.nspname = COALESCE(:schema, current_schema())
          AND a.attname = :column
      UNION ALL
        SELECT t.typtype, t.typbasetype, t.typtypmod
        FROM chain JOIN pg_type t ON t.oid = chain.typbasetype
        WHERE chain.typtype = 'd'
    )
    SELECT information_schema._pg_char_max_length(typbasetype, typtypmod),
           information_schema._pg_numeric_precision(typbasetype, typtypmod),
           information_schema._pg_numeric_scale(typbasetype, typtypmod)
    FROM chain
    WHERE typtype = 'd' AND typtypmod >= 0
    LIMIT 1
    """
)
"""The length, precision and scale a domain's base type is declared with (from the domain
that declares them: a domain over a domain takes no modifiers of its own)."""


ENUM_DOMAIN = "tandem_enum_domain"
"""``Column.info`` key: the name of the domain over an enum a column is declared with."""

NO_ENUM_DOMAIN_KEY = (
    "PostgreSQL has no = or < operator for a domain over an enum (even the ERP's own queries "
    "must cast it), so no row can be looked up or read in order by such a key: declare the key "
    "column of the enum type itself"
)
"""Why a key column of a domain over an enum is refused (install-capture, describe)."""


def is_enum_domain(kind: sa.types.TypeEngine[Any]) -> bool:
    """``kind`` is a domain (over domains) over an enum."""
    return isinstance(kind, postgresql.DOMAIN) and isinstance(base_type(kind), sa.Enum)


def enum_domain(column: Any) -> str | None:
    """The domain over an enum that a reflected ``column`` is declared with, if any."""
    info = getattr(column, "info", None)
    return info.get(ENUM_DOMAIN) if isinstance(info, dict) else None


def see_through_domains(
    inspector: sa.Inspector, table: sa.Table, column_info: dict[str, Any]
) -> None:
    """``column_reflect`` listener: a column of a domain is reflected as of its base type,
    with the length, precision and scale the domain declares."""
    kind = column_info["type"]
    if not isinstance(kind, postgresql.DOMAIN):
        return
    base = base_type(kind)
    if is_enum_domain(kind):  # its values compare as nothing: a key of it is refused
        column_info["info"] = {**column_info.get("info", {}), ENUM_DOMAIN: kind.name}
    if isinstance(base, sa.String | sa.Numeric) and not isinstance(base, sa.Float | sa.Integer):
        params = {"table": table.name, "schema": table.schema, "column": column_info["name"]}
        bind = inspector.bind
        with bind.connect() if isinstance(bind, sa.Engine) else nullcontext(bind) as conn:
            found = conn.execute(_MODIFIERS, params).first()
        if found is not None:
            base = _with_modifiers(base, *found)
    column_info["type"] = base


def _with_modifiers(
    base: sa.types.TypeEngine[Any], length: int | None, precision: int | None, scale: int | None
) -> sa.types.TypeEngine[Any]:
    if isinstance(base, sa.String) and length is not None:
        return type(base)(length=length)
    if isinstance(base, sa.Numeric) and precision is not None:
        return type(base)(precision=precision, scale=scale)
    return base
