"""Binary data in an ERP's columns: bytes, which the connector contract does not carry.

A binary column (``bytea``, ``BLOB``, ``VARBINARY``) is known by its type, or for a query's
column on PostgreSQL by its type code: an entity mapping one is refused, one it does not map
is left out of reads. MariaDB's and SQLite's drivers do not tell a query's binary column from a
text one, and SQLite lets any column of a table hold a blob, so values are looked at too: bytes
that are UTF-8 text are read as that text (:func:`decode_texts`); other bytes make the record
unreadable (:func:`unreadable`), and the pipeline dead-letters it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import KeyedColumnElement

from tandem.connectors.base import EntityBinding, UnreadableFields
from tandem.errors import BindingError

SHOWN_BYTES = 16
"""How many bytes of an unreadable value its error shows."""


def python_type_of(column: KeyedColumnElement[Any] | None) -> type | None:
    """The Python type of ``column``'s values, ``None`` when its type does not say (untyped)."""
    if column is None or isinstance(column.type, sa.types.NullType):
        return None
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


_PG_BYTEA = 17
"""PostgreSQL type OID of ``bytea`` (a query column's type code under psycopg)."""


def binary_columns(
    dialect: sa.Dialect,
    relation: sa.FromClause,
    typed: sa.FromClause | None,
    description: Sequence[Sequence[Any]] | None,
) -> dict[str, str]:
    """The binary columns of ``relation`` (``bytea``, ``BLOB``, ``VARBINARY``: their values
    are ``bytes``), with their types' names: by the column's type, or the typed table's column
    of the same name; a query's PostgreSQL ``bytea`` columns by their type code."""
    found: dict[str, str] = {}
    for column in relation.c:
        if python_type_of(column) is not bytes and typed is not None and column.name in typed.c:
            column = typed.c[column.name]
        if python_type_of(column) is bytes:
            try:
                found[column.name] = str(column.type.compile(dialect=dialect))
            except sa.exc.CompileError:
                found[column.name] = type(column.type).__name__
    if dialect.name == "postgresql" and description:
        for d in description:
            if d[1] == _PG_BYTEA and str(d[0]) not in found:
                found[str(d[0])] = "BYTEA"
    return found


def refuse_binary(binding: EntityBinding, binary: dict[str, str]) -> None:
    """Refuse a binary column that ``binding`` maps (a field or the external id).

    Its values are ``bytes``, which the connector contract does not carry: no field of the
    other system takes them as read. A binary column the binding does not map is left out of
    reads (:func:`~tandem.connectors.sql.source.resolve`) and left as it is by writes.

    Raises:
        BindingError: naming the entity, the setting, the column and its type.
    """
    mapped = [(n, "fields") for n in binding.fields]
    if binding.external_id:
        mapped.append((binding.external_id, "external_id"))
    for name, setting in mapped:
        if name in binary:
            raise BindingError(
                f"column {name!r} of {binding.source!r} is binary ({binary[name]}): its values "
                "are bytes, which Tandem does not sync; leave the column unmapped (it is then "
                "left alone) or map a text column instead",
                entity=binding.name,
                setting=setting,
                native=name,
            )


def decode_texts(fields: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Read the ``bytes`` values of ``fields`` that are UTF-8 text as that text, in place.

    PyMySQL and sqlite3 give a query's binary (or binary-charset) values as bytes, and their
    type codes do not tell such a column from a text one; SQLite lets any column hold a blob.

    Returns:
        The fields whose bytes are not UTF-8 text, with those bytes (their values in
        ``fields`` are set to ``None``, for :func:`unreadable` to leave out).
    """
    bad: list[tuple[str, bytes]] = []
    for name, value in fields.items():
        if type(value) is bytes:
            try:
                fields[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                fields[name] = None
                bad.append((name, value))
    return bad


def unreadable(
    binding: EntityBinding, fields: dict[str, Any], bad: list[tuple[str, bytes]]
) -> UnreadableFields:
    """``fields`` of a record as unreadable: ``bad``'s columns (their bytes) left out, the
    first of them named in the error, which tells what to do."""
    name, raw = bad[0]
    for column, _ in bad:
        del fields[column]
    others = f" (and {len(bad) - 1} more such columns)" if len(bad) > 1 else ""
    reason = (
        f"entity {binding.name} ({binding.source!r}): column {name!r}{others} holds "
        f"{len(raw)} bytes that are not UTF-8 text; Tandem syncs text, not binary data: leave "
        "the column out of the entity (or out of its query), or read it as text in a query "
        "(for instance in hexadecimal)"
    )
    return UnreadableFields(fields, field=name, value=raw[:SHOWN_BYTES], reason=reason)
