"""One bound entity resolved against the database: where to read, where to write, which types.

A binding's ``source`` is a table or view; ``options`` may carry:

* ``query``: a SELECT read instead of the table; writes then go to ``write_table`` or are refused.
* ``write_table``: the table written when ``source`` is a view or a query.
* ``capture_table``: the table whose change-log entries feed this entity (default:
  ``write_table``, else ``source``); set it for a view or query over a captured table.
* ``modified_column``: modified-at column (fallback capture; ``modified_at`` of reads).
* ``soft_delete_column`` / ``soft_delete_value`` (default ``True``): the ERP flags deletes.

Date-times stored without a time zone are local times of the connection's ``time_zone``
(:func:`from_local`, :func:`to_local`); columns that hold an instant (PostgreSQL
``timestamptz``, MariaDB ``TIMESTAMP``, read in the session's UTC) are left as UTC.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.sql.elements import KeyedColumnElement

from tandem.connectors.base import EPOCH, KEY_LENGTH, EntityBinding, utc
from tandem.connectors.sql.binary import (
    binary_columns,
    decode_texts,
    python_type_of,
    refuse_binary,
    unreadable,
)
from tandem.connectors.sql.domains import see_through_domains
from tandem.errors import BindingError, ConfigError

KeyParser = Callable[[str], Any]

_PG_TIMESTAMPTZ = 1184
"""PostgreSQL type OID of ``timestamptz`` (a query column's type code under psycopg)."""
_MYSQL_TIMESTAMP = 7
"""MySQL/MariaDB field type code of ``TIMESTAMP`` (a query column's type code under PyMySQL)."""


def _parse_bool(text: str) -> bool:
    """``True`` / ``False`` (a boolean key's text) back to the boolean; anything else refused."""
    if text == "True":
        return True
    if text == "False":
        return False
    raise ValueError(f"not a boolean key: {text!r}")


_KEY_PARSERS: dict[type, KeyParser] = {
    int: int,
    Decimal: Decimal,
    float: float,
    uuid.UUID: uuid.UUID,
    str: str,
    datetime: datetime.fromisoformat,
    date: date.fromisoformat,
    time: time.fromisoformat,
    bool: _parse_bool,
}
"""Python types of key values -> how a text key becomes one: the reader's text of a value
(``reader.key_text``: ``str()``, a decimal without exponent, an aware date-time in UTC) parses
back to it. Date-time, date, time and boolean keys become values, not text: their columns'
SQLAlchemy types insist on values when a key is bound (a read by key, an update, a delete)."""

_PG_KEY_TYPES: dict[int, type] = {
    **dict.fromkeys((20, 21, 23, 26), int),  # int8, int2, int4, oid
    1700: Decimal,  # numeric
    **dict.fromkeys((700, 701), float),  # float4, float8
    2950: uuid.UUID,
    **dict.fromkeys((19, 25, 1042, 1043), str),  # name, text, bpchar, varchar
}
"""Python types of a query's column by PostgreSQL type OID (psycopg's type code)."""
_MYSQL_KEY_TYPES: dict[int, type] = {
    **dict.fromkeys((1, 2, 3, 8, 9, 13), int),  # TINY, SHORT, LONG, LONGLONG, INT24, YEAR
    **dict.fromkeys((0, 246), Decimal),  # DECIMAL, NEWDECIMAL
    **dict.fromkeys((4, 5), float),  # FLOAT, DOUBLE
    **dict.fromkeys((15, 253, 254), str),  # VARCHAR, VAR_STRING, STRING
}
"""Python types of a query's column by MySQL/MariaDB field type (PyMySQL's type code)."""
_QUERY_KEY_TYPES = {
    "postgresql": _PG_KEY_TYPES,
    "mysql": _MYSQL_KEY_TYPES,
    "mariadb": _MYSQL_KEY_TYPES,
}
"""Type codes of a query's columns by dialect (SQLite reports none)."""


@dataclass(frozen=True, slots=True)
class Source:
    """A binding resolved to SQLAlchemy objects.

    Attributes:
        binding: the entity binding.
        relation: what reads select from (table, view, or the query as a subquery).
        key: the key column in ``relation``.
        fields: names that go into :attr:`Change.fields` (fields and external id).
        parse_key: text key -> the key column's Python type (``str`` when unknown).
        capture_name: the table name change-log entries of this entity carry.
        write_table: the table writes go to, ``None`` when the entity is read-only.
        modified: the modified-at column in ``relation``, when configured.
        soft_delete: the soft-delete flag column in ``relation``, when configured.
        soft_value: the flag's value meaning "deleted".
        booleans: columns stored as integers that mean booleans (MariaDB ``TINYINT(1)``).
        key_typed: the key column is a table's (or view's) column of a known type: keys are
            matched with it as that type (else as text, against the column cast to text).
        key_known: :attr:`parse_key` gives the key's type: from the column, or for a query from
            the driver's type of its result column. Else (a query on SQLite, a computed view
            column there) the key's type is learnt from a value when one is compared.
        key_nullable: the key column may hold NULL, or nothing says it cannot (a query's or a
            view's key, a SQLite primary key not declared NOT NULL): reads leave such rows out
            of the key-ordered reads and name them (:func:`reader.keyless`).
        key_long: the key column is text that may hold more than :data:`KEY_LENGTH`
            characters (declared longer, or unbounded): no record can stand for such a key
            (the change log, the state store and a Salesforce external ID hold that many), so
            reads leave those rows out and name them as they do rows without a key.
        zone: the time zone of date-times stored without one (the ``time_zone`` setting).
        zoned: columns of ``relation`` that hold an instant (``timestamptz``, MariaDB
            ``TIMESTAMP``): a naive value read from one is UTC, whatever ``zone`` says.
        columns: the names :meth:`select_columns` selects, in order (rows are read by position).
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
    key_known: bool = True
    key_nullable: bool = False
    key_long: bool = False
    zone: tzinfo = UTC
    zoned: frozenset[str] = frozenset()
    columns: tuple[str, ...] = field(init=False)
    _soft_at: int = field(init=False)
    _modified_at: int = field(init=False)
    _modified_zone: tzinfo = field(init=False)
    _checked: tuple[tuple[str, bool, tzinfo, bool], ...] = field(init=False)
    by_keys: sa.Select[Any] = field(init=False, repr=False, compare=False)
    """The rows whose key is one of the ``keys`` parameter (an expanding ``IN`` list): built
    once, each read by keys runs it with its chunk of key values, so SQLAlchemy neither builds
    nor coerces an expression per key or per read."""

    def __post_init__(self) -> None:
        names = [self.key.name, *self.fields]
        for extra in (self.soft_delete, self.modified):
            if extra is not None and extra.name not in names:
                names.append(extra.name)
        # Derived once here: reads take every row by position, which costs a fraction of a
        # name look-up per value (a large load reads hundreds of thousands of rows).
        object.__setattr__(self, "columns", tuple(names))
        soft, modified = self.soft_delete, self.modified
        object.__setattr__(self, "_soft_at", -1 if soft is None else names.index(soft.name))
        object.__setattr__(
            self, "_modified_at", -1 if modified is None else names.index(modified.name)
        )
        object.__setattr__(
            self, "_modified_zone", UTC if modified is None else self.zone_of(modified.name)
        )
        checked = [
            (name, name in self.booleans, self.zone_of(name), _dated(self.relation.c[name]))
            for name in dict.fromkeys(self.fields)
            if name in self.booleans or _may_hold_datetime(self.relation.c[name])
        ]
        object.__setattr__(self, "_checked", tuple(checked))
        keyed = self.key if self.key_typed else sa.cast(self.key, sa.String)
        keys: sa.BindParameter[Any] = sa.bindparam("keys", expanding=True)
        by_keys = sa.select(*self.select_columns()).where(keyed.in_(keys))
        object.__setattr__(self, "by_keys", by_keys)

    def zone_of(self, name: str) -> tzinfo:
        """The zone of naive date-times in column ``name``: UTC for :attr:`zoned` columns."""
        return UTC if name in self.zoned else self.zone

    def select_columns(self) -> list[sa.ColumnElement[Any]]:
        """Key, fields, soft-delete flag and modified-at column, for reads.

        Rows come back with the values of :attr:`columns` in this order: the key first, then
        the fields in their order, then the flag and modified-at column unless already in.
        """
        return [self.relation.c[n] for n in self.columns]

    def is_deleted(self, row: Sequence[Any]) -> bool:
        """The row (of :meth:`select_columns`) carries the soft-delete flag."""
        if self._soft_at < 0:
            return False
        value = row[self._soft_at]
        if isinstance(self.soft_value, bool) and value is not None:
            return bool(value) is self.soft_value
        return bool(value == self.soft_value)

    def modified_of(self, row: Sequence[Any]) -> Any:
        """The row's (of :meth:`select_columns`) modified-at value, as read."""
        assert self._modified_at >= 0, "no modified_column"
        return row[self._modified_at]

    def modified_instant(self, raw: datetime | str) -> datetime:
        """A modified-at value as read (a datetime, or ISO text on SQLite) as aware UTC; a
        MariaDB zero date (:func:`zero_date`) as the epoch, as no value."""
        if isinstance(raw, str) and zero_date(raw):
            return EPOCH
        value = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
        return from_local(value, self._modified_zone)

    def modified_param(self, instant: datetime) -> datetime:
        """The naive value to compare the modified-at column with for ``instant`` (a cursor).

        The column's own terms: local wall time of :attr:`zone`, or UTC for a column that
        holds an instant (the session is in UTC).
        """
        return to_local(instant, self._modified_zone)

    def key_values(self, keys: list[str]) -> list[Any]:
        """The text ``keys`` as the key column's values; unparsable keys are left out.

        Matched against the key column, or against it cast to text when its type is unknown
        (then the keys stay text).
        """
        if not self.key_typed:
            return keys
        parse = self.parse_key
        parsed: list[Any] = []
        add = parsed.append
        for key in keys:
            try:
                add(parse(key))
            except (ValueError, ArithmeticError):
                continue
        return parsed

    def to_fields(self, row: Sequence[Any]) -> dict[str, Any]:
        """The fields of a row (of :meth:`select_columns`) as the contract's values.

        Values pass as read, except where :func:`read_value` may change one: boolean columns,
        and columns whose type may yield a ``datetime``; only those are looked at. And
        ``bytes``, which no mapped column's type yields but a query's untyped one may (MariaDB,
        SQLite) and any column on SQLite: UTF-8 text is read as that text, other bytes make the
        fields :class:`UnreadableFields` without them
        (:func:`~tandem.connectors.sql.binary.decode_texts`).
        """
        fields = dict(zip(self.fields, row[1 : 1 + len(self.fields)], strict=True))
        # the types of a row's values are compared in C: a fraction of a microsecond a row
        bad = decode_texts(fields) if bytes in map(type, row) else None
        for name, boolean, zone, dated in self._checked:
            value = fields[name]
            if dated and isinstance(value, str) and zero_date(value):
                fields[name] = None  # a MariaDB zero date, which the driver gives as text
            else:
                fields[name] = read_value(value, boolean, zone)
        return unreadable(self.binding, fields, bad) if bad else fields


def read_value(value: Any, boolean: bool = False, zone: tzinfo = UTC) -> Any:
    """A database value as the contract carries it (aware UTC datetimes, real booleans).

    A naive datetime is a local time of ``zone`` (:func:`from_local`); an aware one is
    converted to UTC.
    """
    if isinstance(value, datetime):
        return from_local(value, zone)
    if boolean and value is not None:
        return bool(value)
    return value


_ZERO_DATE = re.compile(r"\d{4}-(?:00-\d{2}|\d{2}-00)(?: \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)?")


def zero_date(text: str) -> bool:
    """Whether ``text`` is a MariaDB date or date-time with a zero month or day
    (``0000-00-00``, ``2026-05-00 10:00:00``), which the driver returns as text: a server
    without ``NO_ZERO_DATE`` / ``NO_ZERO_IN_DATE`` stores them, and they mean no date."""
    return _ZERO_DATE.fullmatch(text) is not None


def from_local(value: datetime, zone: tzinfo) -> datetime:
    """``value`` as an aware UTC datetime, a naive ``value`` taken as wall time in ``zone``.

    A wall time that a daylight-saving change makes ambiguous (the repeated hour) or missing
    (the skipped hour) is resolved with ``fold=0``: the offset in force before the change.
    """
    if value.tzinfo is None and zone is not UTC:
        return value.replace(tzinfo=zone, fold=0).astimezone(UTC)
    return utc(value)


def to_local(value: datetime, zone: tzinfo) -> datetime:
    """The instant ``value`` (naive: UTC) as naive wall time in ``zone``."""
    return utc(value).astimezone(zone).replace(tzinfo=None)


_PLAIN_TYPES = frozenset({str, int, float, bool, bytes, Decimal})
"""Python types of column values that :func:`read_value` passes through unchanged."""


def _dated(column: sa.ColumnElement[Any]) -> bool:
    """Whether ``column`` is declared a date or date-time: a text value read from it can only
    be a MariaDB zero date (:func:`zero_date`)."""
    try:
        return column.type.python_type in (date, datetime)
    except NotImplementedError:
        return False


def _may_hold_datetime(column: sa.ColumnElement[Any]) -> bool:
    """Whether values read from ``column`` may be ``datetime`` (then they are converted).

    A column whose SQLAlchemy type reads as text, numbers or bytes never yields one: drivers
    give such a column's values in the types the database declared, and SQLAlchemy's result
    processing of it (if any) returns its own type. An untyped column (a query's, or an
    unknown database type) or any other type is looked at value by value.
    """
    if isinstance(column.type, sa.types.NullType):
        return True
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return True
    return python_type not in _PLAIN_TYPES


def write_value(column: sa.Column[Any], value: Any, zone: tzinfo = UTC) -> Any:
    """A contract value as ``column`` stores it.

    A datetime (naive: UTC, as the contract's) goes to a ``timestamptz`` column as aware UTC,
    to a MariaDB ``TIMESTAMP`` as naive UTC (the session is in UTC), and to any other column as
    naive wall time in ``zone``.
    """
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
        if getattr(kind, "timezone", False):
            return utc(value)
        return to_local(value, UTC if holds_instant(column) else zone)
    if isinstance(value, bool) and is_boolean(column):
        return int(value) if not isinstance(kind, sa.Boolean) else value
    return value


def holds_instant(column: sa.ColumnElement[Any]) -> bool:
    """The column stores an instant, not a wall time: ``timestamptz``, MariaDB ``TIMESTAMP``."""
    kind = column.type
    return bool(getattr(kind, "timezone", False)) or isinstance(kind, mysql.TIMESTAMP)


def is_boolean(column: sa.ColumnElement[Any]) -> bool:
    """The column holds booleans (``BOOLEAN``, or MariaDB's ``TINYINT(1)``)."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    return isinstance(kind, mysql.TINYINT) and getattr(kind, "display_width", None) == 1


def key_parser(column: KeyedColumnElement[Any] | None) -> KeyParser:
    """How to turn a text key back into the key column's type (``str`` when unknown)."""
    return parser_of(python_type_of(column))


def parser_of(python_type: type | None) -> KeyParser:
    """How to turn a text key back into a value of ``python_type`` (``str`` when unknown)."""
    if python_type is None:
        return str
    return _KEY_PARSERS.get(python_type, str)


def reflect(conn: sa.Connection, name: str, schema: str | None) -> sa.Table:
    """Reflect the table or view ``name`` (a domain's column as of its base type).

    Raises:
        ConfigError: no such table or view.
    """
    metadata = sa.MetaData()
    sa.event.listen(metadata, "column_reflect", see_through_domains)
    if conn.dialect.name in ("mysql", "mariadb"):
        sa.event.listen(metadata, "column_reflect", _undouble_backticks)
    try:
        return sa.Table(name, metadata, autoload_with=conn, schema=schema)
    except sa.exc.NoSuchTableError:
        raise ConfigError(
            f"no table or view {name!r} in the ERP database", field="source"
        ) from None


def reflected_name(dialect: sa.Dialect, name: str) -> str:
    """A column name as the catalogue holds it, from the name SQLAlchemy reflected.

    SQLAlchemy's MySQL/MariaDB reflection (2.x) parses ``SHOW CREATE TABLE`` and keeps a
    backtick inside a quoted name doubled as the statement writes it (a column ``a`b`` comes
    back as ``a``b``); its column lists of keys and indexes too. Taken as is, a binding naming
    ``a`b`` is refused and the reflected name, quoted again, names no column. Undone here,
    where the reflected names are taken.
    """
    if dialect.name in ("mysql", "mariadb"):
        return name.replace("``", "`")
    return name


def _undouble_backticks(
    inspector: sa.Inspector, table: sa.Table, column_info: dict[str, Any]
) -> None:
    """``column_reflect`` listener: a column's name as the catalogue holds it
    (:func:`reflected_name`); SQLAlchemy still finds the column of a key or an index by the
    name it reflected."""
    column_info["name"] = reflected_name(inspector.dialect, str(column_info["name"]))


def resolve(
    conn: sa.Connection, binding: EntityBinding, schema: str | None, zone: tzinfo = UTC
) -> Source:
    """Resolve ``binding`` against the database (reflection; one round of catalogue queries).

    ``zone`` is the time zone of the date-times the ERP stores without one.

    Raises:
        BindingError: a table or column the binding names is not in the database (the error
            names the binding setting and the name; ``FlowSpec.place`` locates it in the flow);
            or a binary column is mapped (:func:`~tandem.connectors.sql.binary.refuse_binary`).
            Unmapped binary columns are left out of the fields read when the binding names
            none.
    """
    opts = binding.options
    query = opts.get("query")
    write_name = opts.get("write_table")
    write_table = (
        _reflect_bound(conn, binding, str(write_name), schema, "options.write_table")
        if write_name
        else None
    )
    relation: sa.FromClause
    typed: sa.FromClause | None
    key_type: type | None = None  # of a query's key, by the driver's type code
    description: Sequence[Sequence[Any]] | None = None  # of a query's result columns
    if query is None:
        table = _reflect_bound(conn, binding, binding.source, schema, "source")
        if write_table is None and not _is_view(conn, binding.source, schema):
            write_table = table
        relation = typed = table
        zoned = frozenset(c.name for c in table.c if holds_instant(c))
    else:
        sql = str(query).strip().rstrip(";")
        probe = _probe_query(conn, binding, sql)
        names = list(probe.keys())
        description = probe.cursor.description
        zoned = _zoned_query_columns(conn.dialect.name, description)
        key_type = _query_column_type(conn.dialect.name, description, binding.key)
        probe.close()
        relation = sa.text(sql).columns(*(sa.column(n) for n in names)).subquery("tandem_q")
        typed = write_table
        if typed is None and opts.get("capture_table"):
            capture_name = str(opts["capture_table"])
            typed = _reflect_bound(conn, binding, capture_name, schema, "options.capture_table")
    binary = binary_columns(conn.dialect, relation, typed, description)
    fields = tuple(binding.fields) or tuple(
        c.name for c in relation.c if c.name != binding.key and c.name not in binary
    )
    if binding.external_id and binding.external_id not in fields:
        fields = (*fields, binding.external_id)
    needed = [
        (binding.key, "key"),
        *((n, "fields" if n in binding.fields else "external_id") for n in fields),
        (opts.get("modified_column"), "options.modified_column"),
        (opts.get("soft_delete_column"), "options.soft_delete_column"),
    ]
    missing = [
        BindingError(
            f"column {name!r} is not in {binding.source!r}",
            entity=binding.name,
            setting=setting,
            native=str(name),
        )
        for name, setting in needed
        if name and name not in relation.c
    ]
    if missing:
        missing[0].also = tuple(missing[1:])  # a check names every column missing at once
        raise missing[0]
    refuse_binary(binding, binary)
    typed_key = typed.c[binding.key] if typed is not None and binding.key in typed.c else None
    column_type = python_type_of(typed_key)
    if column_type is not None:
        key_type = column_type
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
        parse_key=parser_of(key_type),
        capture_name=str(capture),
        write_table=write_table,
        modified=relation.c[modified] if modified else None,
        soft_delete=relation.c[soft] if soft else None,
        soft_value=opts.get("soft_delete_value", True),
        booleans=booleans,
        key_typed=column_type is not None,
        key_known=key_type is not None,
        key_nullable=typed_key is None or bool(getattr(typed_key, "nullable", True)),
        key_long=_may_be_long(typed_key),
        zone=zone,
        zoned=zoned,
    )


def _probe_query(conn: sa.Connection, binding: EntityBinding, sql: str) -> sa.CursorResult[Any]:
    """The columns of a binding's ``options.query``, no row read; a query the database
    refuses is that setting's error (the database's own words), not a connection failure."""
    try:
        return conn.execute(sa.text(f"SELECT * FROM ({sql}) tandem_q WHERE 1 = 0"))
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise  # the connection broke: the caller's retry rules apply, not the query's
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        raise BindingError(
            f"the database refuses the query: {reason}",
            entity=binding.name,
            setting="options.query",
            native=binding.source,
        ) from None


def _reflect_bound(
    conn: sa.Connection, binding: EntityBinding, name: str, schema: str | None, setting: str
) -> sa.Table:
    """:func:`reflect` the table ``binding`` names in ``setting``; a missing one is its error."""
    try:
        return reflect(conn, name, schema)
    except ConfigError as exc:
        raise BindingError(exc.detail, entity=binding.name, setting=setting, native=name) from None


def _zoned_query_columns(
    dialect: str, description: Sequence[Sequence[Any]] | None
) -> frozenset[str]:
    """The columns of a query's result that hold an instant, from the driver's type codes.

    A query's columns carry no SQLAlchemy type; psycopg gives PostgreSQL type OIDs and PyMySQL
    MySQL field types (SQLite has none: its values are wall times).
    """
    code = {"postgresql": _PG_TIMESTAMPTZ, "mysql": _MYSQL_TIMESTAMP, "mariadb": _MYSQL_TIMESTAMP}
    wanted = code.get(dialect)
    if wanted is None or not description:
        return frozenset()
    return frozenset(str(d[0]) for d in description if d[1] == wanted)


def _query_column_type(
    dialect: str, description: Sequence[Sequence[Any]] | None, name: str
) -> type | None:
    """The Python type of a query's column ``name``, from the driver's type code, if known."""
    types = _QUERY_KEY_TYPES.get(dialect)
    if types is None or not description:
        return None
    for column in description:
        if str(column[0]) == name and isinstance(column[1], int):
            return types.get(column[1])
    return None


def _is_view(conn: sa.Connection, name: str, schema: str | None) -> bool:
    return name in sa.inspect(conn).get_view_names(schema=schema)


def _may_be_long(column: Any) -> bool:
    """Whether ``column`` (a reflected key column, or None) is text that may hold a value of
    more than :data:`KEY_LENGTH` characters."""
    kind = column.type if column is not None else None  # a domain's: its base type's
    if not isinstance(kind, sa.String):
        return False
    return kind.length is None or kind.length > KEY_LENGTH
