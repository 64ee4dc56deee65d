"""One bound entity resolved against the database: where to read, where to write, which types.

A binding's ``source`` is a table or view; ``options`` may carry:

* ``query``: a SELECT read instead of the table; writes then go to ``write_table`` or are refused.
* ``write_table``: the table written when ``source`` is a view or a query.
* ``capture_table``: the table whose change-log entries feed this entity (default:
  ``write_table``, else ``source``); set it for a view or query over a captured table.
* ``modified_column``: modified-at column (fallback capture; ``modified_at`` of reads).
* ``soft_delete_column`` / ``soft_delete_value`` (default ``True``): the ERP flags deletes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.sql.elements import KeyedColumnElement

from tandem.connectors.base import EntityBinding, utc
from tandem.errors import ConfigError

KeyParser = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Source:
    """A binding resolved to SQLAlchemy objects.

    Attributes:
        binding: the entity binding.
        relation: what reads select from (table, view, or the query as a subquery).
        key: the key column in ``relation``.
        fields: names that go into :attr:`Change.fields` (fields and external id).
        parse_key: text key -> the key column's Python type.
        capture_name: the table name change-log entries of this entity carry.
        write_table: the table writes go to, ``None`` when the entity is read-only.
        modified: the modified-at column in ``relation``, when configured.
        soft_delete: the soft-delete flag column in ``relation``, when configured.
        soft_value: the flag's value meaning "deleted".
        booleans: columns stored as integers that mean booleans (MariaDB ``TINYINT(1)``).
        key_typed: the key column's type is known (else keys are matched as text).
    """

    binding: EntityBinding
    relation: sa.FromClause
    key: KeyedColumnElement[Any]
    fields: tuple[str, ...]
    parse_key: KeyParser
    capture_name: str
    write_table: sa.Table | None
    modified: KeyedColumnElement[Any] | None
    soft_delete: KeyedColumnElement[Any] | None
    soft_value: Any
    booleans: frozenset[str]
    key_typed: bool = True

    def select_columns(self) -> list[sa.ColumnElement[Any]]:
        """Key, fields, soft-delete flag and modified-at column, for reads."""
        names = [self.key.name, *self.fields]
        for extra in (self.soft_delete, self.modified):
            if extra is not None and extra.name not in names:
                names.append(extra.name)
        return [self.relation.c[n] for n in names]

    def is_deleted(self, row: Mapping[Any, Any]) -> bool:
        """The row carries the soft-delete flag."""
        if self.soft_delete is None:
            return False
        value = row[self.soft_delete.name]
        if isinstance(self.soft_value, bool) and value is not None:
            return bool(value) is self.soft_value
        return bool(value == self.soft_value)

    def key_in(self, keys: list[str]) -> sa.ColumnElement[bool]:
        """A WHERE clause matching the text ``keys``; unparsable keys are left out."""
        if not self.key_typed:
            return sa.cast(self.key, sa.String).in_(keys)
        parsed: list[Any] = []
        for key in keys:
            try:
                parsed.append(self.parse_key(key))
            except (ValueError, ArithmeticError):
                continue
        clause: sa.ColumnElement[bool] = self.key.in_(parsed)
        return clause

    def to_fields(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        """The row's fields as the contract's JSON-compatible values."""
        return {name: read_value(row[name], name in self.booleans) for name in self.fields}


def read_value(value: Any, boolean: bool = False) -> Any:
    """A database value as the contract carries it (aware UTC datetimes, real booleans)."""
    if isinstance(value, datetime):
        return utc(value)
    if boolean and value is not None:
        return bool(value)
    return value


def write_value(column: sa.Column[Any], value: Any) -> Any:
    """A contract value as ``column`` stores it; datetimes become UTC (naive for naive columns)."""
    kind = column.type
    if isinstance(value, str) and isinstance(kind, sa.DateTime | sa.Date):
        value = (
            datetime.fromisoformat(value)
            if isinstance(kind, sa.DateTime)
            else date.fromisoformat(value)
        )
    if isinstance(value, datetime):
        if isinstance(kind, sa.Date) and not isinstance(kind, sa.DateTime):
            return value.date()
        aware = utc(value)
        return aware if getattr(kind, "timezone", False) else aware.replace(tzinfo=None)
    if isinstance(value, bool) and is_boolean(column):
        return int(value) if not isinstance(kind, sa.Boolean) else value
    return value


def is_boolean(column: sa.ColumnElement[Any]) -> bool:
    """The column holds booleans (``BOOLEAN``, or MariaDB's ``TINYINT(1)``)."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    return isinstance(kind, mysql.TINYINT) and getattr(kind, "display_width", None) == 1


def key_parser(column: KeyedColumnElement[Any] | None) -> KeyParser:
    """How to turn a text key back into the key column's type."""
    try:
        python_type = column.type.python_type if column is not None else str
    except NotImplementedError:
        python_type = str
    if python_type is int:
        return int
    if python_type is Decimal:
        return Decimal
    if python_type is uuid.UUID:
        return uuid.UUID
    return str


def reflect(conn: sa.Connection, name: str, schema: str | None) -> sa.Table:
    """Reflect the table or view ``name``.

    Raises:
        ConfigError: no such table or view.
    """
    try:
        return sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema)
    except sa.exc.NoSuchTableError:
        raise ConfigError(
            f"no table or view {name!r} in the ERP database", field="source"
        ) from None


def resolve(conn: sa.Connection, binding: EntityBinding, schema: str | None) -> Source:
    """Resolve ``binding`` against the database (reflection; one round of catalogue queries)."""
    opts = binding.options
    query = opts.get("query")
    write_name = opts.get("write_table")
    write_table = reflect(conn, str(write_name), schema) if write_name else None
    relation: sa.FromClause
    typed: sa.FromClause | None
    if query is None:
        table = reflect(conn, binding.source, schema)
        if write_table is None and not _is_view(conn, binding.source, schema):
            write_table = table
        relation = typed = table
    else:
        sql = str(query).strip().rstrip(";")
        names = list(conn.execute(sa.text(f"SELECT * FROM ({sql}) tandem_q WHERE 1 = 0")).keys())
        relation = sa.text(sql).columns(*(sa.column(n) for n in names)).subquery("tandem_q")
        typed = write_table
        if typed is None and opts.get("capture_table"):
            typed = reflect(conn, str(opts["capture_table"]), schema)
    fields = tuple(binding.fields) or tuple(c.name for c in relation.c if c.name != binding.key)
    if binding.external_id and binding.external_id not in fields:
        fields = (*fields, binding.external_id)
    needed = [binding.key, *fields, opts.get("modified_column"), opts.get("soft_delete_column")]
    for name in needed:
        if name and name not in relation.c:
            raise ConfigError(
                f"column {name!r} is not in {binding.source!r}", field=f"entities.{binding.name}"
            )
    typed_key = typed.c[binding.key] if typed is not None and binding.key in typed.c else None
    booleans = frozenset(
        c.name for c in (typed.c if typed is not None else []) if is_boolean(c) and c.name in fields
    )
    capture = opts.get("capture_table") or write_name or binding.source
    modified, soft = opts.get("modified_column"), opts.get("soft_delete_column")
    return Source(
        binding=binding,
        relation=relation,
        key=relation.c[binding.key],
        fields=fields,
        parse_key=key_parser(typed_key),
        capture_name=str(capture),
        write_table=write_table,
        modified=relation.c[modified] if modified else None,
        soft_delete=relation.c[soft] if soft else None,
        soft_value=opts.get("soft_delete_value", True),
        booleans=booleans,
        key_typed=typed_key is not None,
    )


def _is_view(conn: sa.Connection, name: str, schema: str | None) -> bool:
    return name in sa.inspect(conn).get_view_names(schema=schema)
