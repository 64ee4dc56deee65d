"""The tables to capture and their key columns, checked before anything is created."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from tandem.connectors.base import KEY_LENGTH, EntityBinding
from tandem.connectors.sql.capture.common import KeyKind, _Dialect
from tandem.connectors.sql.capture.kinds import _no_exact_text, _type_name, key_kind
from tandem.connectors.sql.reader import KEYLESS_SHOWN
from tandem.errors import BindingError, ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CaptureTable:
    """A table to capture with its key column, and the flow binding that names them, if any.

    Attributes:
        table: the table whose changes are logged.
        key: its key column.
        entity: the flow entity whose binding names the table (``None``: a table given
            directly; a fault is then a :class:`ConfigError` of ``tables``).
        setting: the binding setting that names the table: ``source``,
            ``options.write_table`` or ``options.capture_table``.
    """

    table: str
    key: str
    entity: str | None = None
    setting: str = "source"

    def fault(self, message: str, *, on_key: bool) -> ConfigError:
        """The error refusing this table (``on_key``: its key column), naming the binding's
        setting and the native name when a binding named them (:class:`BindingError`)."""
        if self.entity is None:
            return ConfigError(message, field="tables")
        setting, native = ("key", self.key) if on_key else (self.setting, self.table)
        return BindingError(message, entity=self.entity, setting=setting, native=native)


def capture_tables(bindings: Iterable[EntityBinding]) -> list[CaptureTable]:
    """The table whose changes feed each binding, for :func:`install_capture`.

    That is ``options.capture_table``, else ``options.write_table``, else ``source`` (the
    table that change-log entries of the entity name, as the reader looks them up), with the
    binding's key column; each names its entity and setting, so that a refusal is placed at
    the binding's setting in the flow.
    """
    tables = []
    for binding in bindings:
        table, setting = binding.source, "source"
        for option in ("capture_table", "write_table"):
            if binding.options.get(option):
                table, setting = str(binding.options[option]), f"options.{option}"
                break
        tables.append(CaptureTable(table, binding.key, binding.name, setting))
    return tables


def _check_tables(
    conn: sa.Connection, d: _Dialect, tables: Sequence[CaptureTable], schema: str | None
) -> list[KeyKind]:
    """Refuse, before any change, a table that is not there or a key that names no one row.

    The change log keeps one key column's value per entry, so that column must identify a row
    on its own: the table's single-column primary key, or a column that is NOT NULL and unique
    by itself (a UNIQUE constraint or a full unique index on it alone). One column of a
    composite key would merge the rows that share it and lose their deletes. And its type must
    have a text the triggers write exactly as the reader reads the key.

    Returns:
        The key kind of each table, in order.

    Raises:
        ConfigError: the refusal (:meth:`CaptureTable.fault`: a :class:`BindingError` for the
            table of a binding).
    """
    insp = sa.inspect(conn)
    existing = set(insp.get_table_names(schema=schema))
    kinds: list[KeyKind] = []
    for target in tables:
        table, key = target.table, target.key
        if table not in existing:
            raise target.fault(_no_table(insp, target, schema), on_key=False)
        columns = {c["name"]: c for c in insp.get_columns(table, schema=schema)}
        if key not in columns:
            raise target.fault(f"table {table!r} has no column {key!r}", on_key=True)
        why = _not_a_row_key(insp, table, key, bool(columns[key].get("nullable", True)), schema)
        if why:
            raise target.fault(
                f"table {table!r}: key column {key!r} cannot be captured: {why}; the change log "
                "keeps one column's value per entry, so the key must be the table's "
                "single-column primary key or a NOT NULL column that is unique on its own "
                "(composite keys are not captured)",
                on_key=True,
            )
        column_type = columns[key]["type"]
        kind = key_kind(column_type)
        if kind is None or kind not in d.KINDS:
            why = d.REFUSED if kind is not None else _no_exact_text(column_type)
            raise target.fault(
                f"table {table!r}: key column {key!r} {_type_name(column_type, conn)} "
                f"cannot be captured: {why}; the change log keeps each key as text, which "
                "must be exactly the reader's text of that key",
                on_key=True,
            )
        kinds.append(kind)
    return kinds


def name_unloggable(conn: sa.Connection, d: _Dialect, target: CaptureTable, kind: KeyKind) -> None:
    """Warn of rows whose key the change log cannot hold: NULL (a SQLite primary key not
    declared NOT NULL) or longer than :data:`KEY_LENGTH`. They are not seeded, and the
    triggers log nothing for them (no record can stand for such a row) until an update gives
    them a key that can be logged."""
    found = conn.exec_driver_sql(
        f"SELECT * FROM {d.q(target.table)} tandem_src "
        f"WHERE NOT ({d.loggable('tandem_src', target.key, kind)}) LIMIT {KEYLESS_SHOWN + 1}"
    ).all()
    if not found:
        return
    shown = "; ".join(f"row {dict(row._mapping)}" for row in found[:KEYLESS_SHOWN])
    log.warning(
        "table %r: rows whose key column %r is NULL or longer than %d characters are not "
        "captured (no record can stand for them) until an update gives them a key that is "
        "neither: %s%s",
        target.table,
        target.key,
        KEY_LENGTH,
        shown,
        "; and more" if len(found) > KEYLESS_SHOWN else "",
    )


def _no_table(insp: sa.Inspector, target: CaptureTable, schema: str | None) -> str:
    """Why ``target``'s table cannot be captured: it is not there, or it is a view."""
    if target.table not in insp.get_view_names(schema=schema):
        return f"no table {target.table!r} to capture (views cannot be)"
    hint = (
        ": set options.capture_table to the table whose changes feed it"
        if target.entity is not None and target.setting == "source"
        else ""
    )
    return f"no table {target.table!r} to capture: it is a view, and views cannot be{hint}"


def _not_a_row_key(
    insp: sa.Inspector, table: str, key: str, nullable: bool, schema: str | None
) -> str:
    """Why ``key`` does not identify one row of ``table`` by itself ('' when it does)."""
    pk = list(insp.get_pk_constraint(table, schema=schema).get("constrained_columns") or [])
    if pk == [key]:
        return ""
    unique: list[list[str | None]] = [
        list(u.get("column_names") or []) for u in insp.get_unique_constraints(table, schema)
    ]
    # SQLite keeps a column's own UNIQUE as an automatic index only.
    auto = {"include_auto_indexes": True} if insp.dialect.name == "sqlite" else {}
    for index in insp.get_indexes(table, schema=schema, **auto):
        partial = any(name.endswith("_where") for name in index.get("dialect_options") or {})
        if index.get("unique") and not partial:  # an expression's column name is None
            unique.append(list(index.get("column_names") or []))
    if [key] in unique:
        return "it may be NULL" if nullable else ""
    if key in pk:
        return f"it is one column of the composite primary key ({', '.join(pk)})"
    return "it is neither the primary key nor unique on its own"
