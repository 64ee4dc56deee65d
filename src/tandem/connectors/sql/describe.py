"""Reflect a table, view or query into the contract's :class:`EntitySchema`."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tandem.connectors.base import EntitySchema, FieldInfo, FieldType
from tandem.connectors.sql.domains import NO_ENUM_DOMAIN_KEY, enum_domain
from tandem.connectors.sql.source import Source, is_boolean, reflected_name
from tandem.errors import BindingError


def field_type(column: sa.Column[Any]) -> FieldType:
    """The contract's field type for a reflected column.

    A single-column primary key is ``id``: it names a record on its own. A column of a
    composite primary key does not, and is typed as its column (``string``, ``date``, ...), so
    the mapping checks hold a field mapped to it to the column's own type.
    """
    kind = column.type
    if column.primary_key and len(column.table.primary_key.columns) == 1:
        return "id"
    if column.foreign_keys:
        return "reference"
    if is_boolean(column):
        return "boolean"
    checks: list[tuple[type[Any], FieldType]] = [
        (sa.Enum, "picklist"),
        (sa.Integer, "integer"),
        (sa.Numeric, "number"),
        (sa.DateTime, "datetime"),
        (sa.Date, "date"),
        (sa.Text, "text"),
        (sa.String, "string"),
    ]
    for base, name in checks:
        if isinstance(kind, base):
            if name == "string" and getattr(kind, "length", None) is None:
                return "text"
            return name
    return "other"


def describe_source(conn: sa.Connection, src: Source) -> EntitySchema:
    """The schema of ``src``: reflected columns of the table (or of ``write_table``).

    A column is ``unique`` when it is the single-column primary key or a unique constraint or
    index covers it on its own (:func:`unique_columns`); no column of a composite primary key
    is. A column that only a view or query provides is described as read-only; the
    autoincrement primary key is neither createable nor updateable.

    Raises:
        BindingError: the key column of the table may be NULL (:func:`refuse_nullable_key`).
    """
    table = src.write_table
    if table is not None:
        refuse_nullable_key(src, table)
    _refuse_enum_domain_key(src, table if table is not None else src.relation)
    read_only = table is None
    reflected = table if table is not None else src.relation
    unique = unique_columns(conn, table) if table is not None else set()
    # A composite primary key makes no single column of it unique.
    sole_key = len(list(reflected.primary_key)) == 1
    fields: dict[str, FieldInfo] = {}
    for col in src.relation.c:
        base = reflected.c.get(col.name) if col.name in reflected.c else None
        if not isinstance(base, sa.Column):
            fields[col.name] = FieldInfo(
                name=col.name, type="other", createable=False, updateable=False
            )
            continue
        auto = table is not None and table.autoincrement_column is base
        computed = base.computed is not None or _always_generated(base)
        enums = tuple(base.type.enums) if isinstance(base.type, sa.Enum) else None
        writable = not (read_only or auto or computed)
        kind = field_type(base)
        fields[col.name] = FieldInfo(
            name=col.name,
            type=kind,
            nillable=bool(base.nullable) and not base.primary_key,
            createable=writable,
            updateable=writable,
            length=getattr(base.type, "length", None) if isinstance(base.type, sa.String) else None,
            unique=(base.primary_key and sole_key) or col.name in unique,
            external_id=col.name == src.binding.external_id,
            picklist=enums,
            restricted_picklist=enums is not None,
            reference_to=tuple(sorted({fk.column.table.name for fk in base.foreign_keys})),
            required_on_create=writable
            and not base.nullable
            and base.server_default is None
            and base.default is None
            and base.autoincrement is not True,  # MariaDB AUTO_INCREMENT: numbered by it
            scale=_fraction(base, conn) if kind == "datetime" else _scale(base),
        )
    return EntitySchema(source=src.binding.source, fields=fields)


def refuse_nullable_key(src: Source, table: sa.Table) -> None:
    """Refuse a key column of ``table`` that is not its primary key and may be NULL.

    A row whose key is NULL names no record: it cannot be linked, written back or told apart
    from another such row, and a created one would have no key to return. ``install-capture``
    refuses the same column for change capture; this refuses it for every capture mode, at
    ``tandem check`` and start. (A SQLite primary key may hold NULL unless declared NOT NULL:
    reads leave such rows out and name them, the change log's triggers skip them.)

    Raises:
        BindingError: naming the entity, the ``key`` setting, the table and the column.
    """
    key = src.binding.key
    column = table.c.get(key)
    if column is None or not column.nullable or column.primary_key:
        return
    raise BindingError(
        f"table {table.name!r}: key column {key!r} may be NULL, and a row without a key "
        "cannot be synced (no record can stand for it): declare the column NOT NULL, or "
        "choose the primary key or another NOT NULL unique column as the key",
        entity=src.binding.name,
        setting="key",
        native=key,
    )


def _refuse_enum_domain_key(src: Source, relation: sa.FromClause) -> None:
    """Refuse a key column of a domain over an enum (:data:`domains.NO_ENUM_DOMAIN_KEY`)."""
    key = src.binding.key
    domain = enum_domain(relation.c.get(key))
    if domain is not None:
        raise BindingError(
            f"{src.binding.source!r}: key column {key!r} of type {domain} (a domain over an "
            f"enum) cannot be the key: {NO_ENUM_DOMAIN_KEY}",
            entity=src.binding.name,
            setting="key",
            native=key,
        )


def _always_generated(column: sa.Column[Any]) -> bool:
    """A PostgreSQL ``GENERATED ALWAYS AS IDENTITY`` column: the database refuses any value
    written to it (``BY DEFAULT`` takes one)."""
    return column.identity is not None and bool(column.identity.always)


def _scale(column: sa.Column[Any]) -> int | None:
    """The decimal places of a fixed-point column (``NUMERIC(12, 3)``: 3); None for any other
    column, and for a ``NUMERIC`` without a declared scale (SQLite keeps what it is given)."""
    kind = column.type
    if not isinstance(kind, sa.Numeric) or isinstance(kind, sa.Float | sa.Integer):
        return None
    scale = kind.scale
    return scale if isinstance(scale, int) and not isinstance(scale, bool) else None


def _fraction(column: sa.Column[Any], conn: sa.Connection) -> int | None:
    """The fractional-second digits a datetime column keeps, given as its scale (digits after
    the point): MariaDB's and MySQL's ``DATETIME`` and ``TIMESTAMP`` keep their ``fsp`` (0 when
    not declared), PostgreSQL's ``timestamp`` its precision (6 when not declared); None where
    it is not known (SQLite keeps the text it is given)."""
    dialect = conn.dialect.name
    if dialect in ("mysql", "mariadb"):
        digits = getattr(column.type, "fsp", None)
        return digits if isinstance(digits, int) else 0
    if dialect == "postgresql":
        digits = getattr(column.type, "precision", None)
        return digits if isinstance(digits, int) else 6
    return None


def unique_columns(conn: sa.Connection, table: sa.Table) -> set[str]:
    """The columns of ``table`` each of which a unique constraint or a unique index covers on
    its own: an index over several columns, over an expression or over some rows only (a
    partial index, ``WHERE``) lets two rows share the column's value."""
    insp = sa.inspect(conn)
    found = set()
    for uc in insp.get_unique_constraints(table.name, schema=table.schema):
        if len(uc["column_names"]) == 1:
            found.add(reflected_name(conn.dialect, str(uc["column_names"][0])))
    # SQLite keeps a column's own UNIQUE (``crm_id TEXT UNIQUE``) as an automatic index only.
    auto = {"include_auto_indexes": True} if conn.dialect.name == "sqlite" else {}
    for ix in insp.get_indexes(table.name, schema=table.schema, **auto):
        names = ix["column_names"]
        partial = any(k.endswith("_where") for k in ix.get("dialect_options", {}))
        if ix.get("unique") and len(names) == 1 and names[0] and not partial:
            found.add(reflected_name(conn.dialect, str(names[0])))
    return found
