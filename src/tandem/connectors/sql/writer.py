"""Writes: upserts keyed by the external-id column, updates and deletes by key.

A batch runs in one transaction. It is first tried straight through; if the database refuses
one record (NOT NULL, too long, bad value, foreign key, unique), that transaction is rolled back
and the batch runs again with a SAVEPOINT per op: the refused record is rolled back to its
savepoint and reported as a :class:`RecordRejected` outcome, and the rest commits. Clean batches
so pay no savepoint round trips. Anything else (lost connection, deadlock, lock timeout,
permission) propagates: the caller rolls the batch back and raises :class:`Retriable` or
:class:`Fatal`. Every op is idempotent, so a retried batch never duplicates a record. A
refusal that comes only at COMMIT (a deferred constraint) has each op committed on its own.

A write by key changes one row or none: one that would change several (a key column that is
not unique) is undone and refused (``KEY_NOT_UNIQUE``). A write that sets the key column
itself answers with the row's new key.

An update with a :class:`~tandem.connectors.base.WriteGuard` is made only if its row still
holds the values the guard read: the comparison is the UPDATE's own ``WHERE``, so no edit can
land between check and write. A row that changed gets an outcome with ``changed`` set and is
left alone (:func:`_guarded_update`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tandem.connectors.base import CHANGED_MEANWHILE, WriteOp, WriteOutcome
from tandem.connectors.sql import faults
from tandem.connectors.sql.reader import key_text
from tandem.connectors.sql.source import Source, read_value, write_value
from tandem.errors import RecordRejected

CHANGED = CHANGED_MEANWHILE
"""The code of a guarded update's outcome when its row changed since it was read."""

_DB_ERRORS = (sa.exc.SQLAlchemyError, ValueError, TypeError, ArithmeticError)


class _Refused(Exception):
    """A record refused before or without a database change (internal)."""

    def __init__(
        self, message: str, field: str | None = None, value: Any = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.code = code


class _Undo(_Refused):
    """A record refused after its change was made: its savepoint is rolled back (internal)."""


class NeedsIsolation(Exception):
    """The straight-through pass met a refused record: roll back, run again with savepoints."""


def write_batch(
    engine: sa.Engine, src: Source, ops: Sequence[WriteOp], secrets: Iterable[str] = ()
) -> list[WriteOutcome]:
    """Apply ``ops`` in one transaction; one outcome per op, in order.

    A record the database refuses only at COMMIT (a ``DEFERRABLE INITIALLY DEFERRED``
    foreign key or unique constraint, SQLite's deferred foreign keys) cannot be rolled back
    to its savepoint: when the batch with savepoints is refused at its commit, each op is
    written in a transaction of its own, so that one record is refused and the rest commit.
    """
    try:
        with engine.begin() as conn:
            return write_ops(conn, src, ops, secrets, isolate=False)
    except NeedsIsolation:
        pass
    except _DB_ERRORS as exc:  # refused at COMMIT: a deferred constraint
        if faults.classify(exc) != "record":
            raise
    try:
        with engine.begin() as conn:
            return write_ops(conn, src, ops, secrets, isolate=True)
    except _DB_ERRORS as exc:  # each op's own refusal was caught: this is the COMMIT's
        if faults.classify(exc) != "record":
            raise
    return [_alone(engine, src, op, tuple(secrets)) for op in ops]


def _alone(engine: sa.Engine, src: Source, op: WriteOp, secrets: tuple[str, ...]) -> WriteOutcome:
    """``op`` written and committed in a transaction of its own; refused if its COMMIT is."""
    try:
        with engine.begin() as conn:
            (outcome,) = write_ops(conn, src, [op], secrets)
            return outcome
    except _DB_ERRORS as exc:
        if faults.classify(exc) != "record":
            raise
        table = _writable(src)
        operation = f"{op.action} {table.name}"
        return _rejection(exc, op, operation, table, _values(src, table, op), secrets)


def write_ops(
    conn: sa.Connection,
    src: Source,
    ops: Sequence[WriteOp],
    secrets: Iterable[str] = (),
    *,
    isolate: bool = True,
) -> list[WriteOutcome]:
    """Apply ``ops`` inside the caller's transaction; one outcome per op, in order.

    Args:
        conn: a connection inside a transaction.
        src: the resolved entity.
        ops: the writes.
        secrets: strings to scrub from messages.
        isolate: a savepoint per op. Without, a database refusal raises
            :class:`NeedsIsolation` (the caller rolls back and retries with ``isolate``).
    """
    secrets = tuple(secrets)
    target = src.write_table.name if src.write_table is not None else src.binding.source
    outcomes = []
    for op in ops:
        operation = f"{op.action} {target}"
        try:
            table = _writable(src)
            values = _values(src, table, op)
        except _Refused as refused:
            outcomes.append(_refusal(op, operation, refused))
            continue
        savepoint = conn.begin_nested() if isolate else None
        try:
            outcome = _apply(conn, src, table, op, values)
        except _Undo as refused:  # the change is made: undo it
            if savepoint is None:
                raise NeedsIsolation() from refused
            savepoint.rollback()
            outcomes.append(_refusal(op, operation, refused))
            continue
        except _Refused as refused:  # raised before any change: nothing to undo
            outcome = _refusal(op, operation, refused)
        except _DB_ERRORS as exc:
            if faults.classify(exc) != "record":
                raise
            if savepoint is None:
                raise NeedsIsolation() from exc
            savepoint.rollback()
            outcomes.append(_rejection(exc, op, operation, table, values, secrets))
            continue
        if savepoint is not None:
            savepoint.commit()
        outcomes.append(outcome)
    return outcomes


def _writable(src: Source) -> sa.Table:
    if src.write_table is None:
        raise _Refused(
            f"{src.binding.source!r} is read-only: set the write_table option to write it",
            code="READ_ONLY",
        )
    return src.write_table


def _values(src: Source, table: sa.Table, op: WriteOp) -> dict[str, Any]:
    out = {}
    for name, value in op.values.items():
        if name not in table.c:
            raise _Refused(f"no column {name!r} in {table.name!r}", name, value, "UNKNOWN_COLUMN")
        try:
            out[name] = write_value(table.c[name], value, src.zone)
        except (ValueError, TypeError) as exc:
            raise _Refused(f"bad value: {exc}", name, value, "BAD_VALUE") from None
    return out


def _key(src: Source, op: WriteOp) -> Any:
    if op.key is None:
        raise _Refused(f"{op.action} needs the record's key", src.binding.key, None, "NO_KEY")
    try:
        return src.parse_key(op.key)
    except (ValueError, ArithmeticError):
        raise _Refused("not a valid key", src.binding.key, op.key, "BAD_KEY") from None


def _apply(
    conn: sa.Connection, src: Source, table: sa.Table, op: WriteOp, values: dict[str, Any]
) -> WriteOutcome:
    key_col = table.c[src.binding.key]
    if op.action == "delete":
        key = _key(src, op)
        if src.soft_delete is not None:
            flag = src.soft_delete.name
            stmt: sa.Executable = (
                sa.update(table).where(key_col == key).values({flag: src.soft_value})
            )
        else:
            stmt = sa.delete(table).where(key_col == key)
        _one(conn.execute(stmt), table, key_col, op.key)
        return WriteOutcome(ref=op.ref, ok=True, key=op.key)
    if op.action == "update":
        if op.guard is not None and op.guard.expected and values:
            return _guarded_update(conn, src, table, key_col, _key(src, op), op, values)
        return _update(conn, table, key_col, _key(src, op), op, values)
    ext = src.binding.external_id
    if ext is None or op.match is None:
        if op.key is not None:
            return _update(conn, table, key_col, _key(src, op), op, values)
        raise _Refused("upsert needs an external-id column and a match value", ext, op.match)
    values[ext] = write_value(table.c[ext], op.match, src.zone)
    found = conn.execute(
        _locked(conn, sa.select(key_col).where(table.c[ext] == values[ext]).limit(2))
    ).all()
    if len(found) > 1:
        raise _Refused("several rows hold this external id", ext, op.match, "DUPLICATE_MATCH")
    if found:
        key = found[0][0]
        if key is None:  # `key = NULL` would be `IS NULL`: every row without a key
            raise _Refused(_keyless(table, key_col), key_col.name, None, "NO_KEY")
        hit = conn.execute(sa.update(table).where(key_col == key).values(values))
        _one(hit, table, key_col, key_text(key))
        return WriteOutcome(ref=op.ref, ok=True, key=_key_now(conn, key_col, values, key_text(key)))
    if op.key is not None:
        key = _key(src, op)
        hit = conn.execute(sa.update(table).where(key_col == key).values(values))
        if _one(hit, table, key_col, op.key):
            return WriteOutcome(ref=op.ref, ok=True, key=_key_now(conn, key_col, values, op.key))
    new_key = _insert(conn, table, key_col, values)
    if new_key is None:  # no key to return: no record could stand for the row
        raise _Undo(_keyless(table, key_col), key_col.name, None, "NO_KEY")
    return WriteOutcome(ref=op.ref, ok=True, key=key_text(new_key), created=True)


def _keyless(table: sa.Table, key_col: sa.Column[Any]) -> str:
    return (
        f"the row of {table.name!r} holding this record would have no key ({key_col.name!r} "
        "is NULL), and a row without a key cannot be synced: map a value to the key column "
        "or give it a default"
    )


def _insert(
    conn: sa.Connection, table: sa.Table, key_col: sa.Column[Any], values: dict[str, Any]
) -> Any:
    """Insert ``values``; the new row's key value, for :func:`key_text`.

    Read back with ``RETURNING`` where the database has it (PostgreSQL, MariaDB 10.5+, SQLite
    3.35+): the value as stored, at the column's precision and scale and in the session's
    (UTC) time zone, is the value the reader will read, so the key text is the reader's and
    the change log's. Elsewhere the key value written, or the generated primary key.
    """
    stmt = sa.insert(table).values(values)
    if conn.dialect.insert_returning:
        return conn.execute(stmt.returning(key_col)).scalar_one()
    result = conn.execute(stmt)
    if key_col.name in values:
        return values[key_col.name]
    pk = result.inserted_primary_key
    primary = list(table.primary_key.columns)
    return pk[primary.index(key_col)] if pk is not None and key_col in primary else None


def _update(
    conn: sa.Connection,
    table: sa.Table,
    key_col: sa.Column[Any],
    key: Any,
    op: WriteOp,
    values: dict[str, Any],
) -> WriteOutcome:
    if values:
        hit = _one(
            conn.execute(sa.update(table).where(key_col == key).values(values)),
            table,
            key_col,
            op.key,
        )
    else:
        hit = len(conn.execute(sa.select(key_col).where(key_col == key).limit(1)).all())
    if not hit:
        raise _Refused("no such row", key_col.name, op.key, "NOT_FOUND")
    return WriteOutcome(ref=op.ref, ok=True, key=_key_now(conn, key_col, values, op.key))


def _one(result: sa.CursorResult[Any], table: sa.Table, key_col: sa.Column[Any], key: Any) -> int:
    """How many rows a write by key changed (0 or 1); more: the key column is not unique,
    and the write is undone rather than change or delete every row holding the key."""
    if result.rowcount > 1:
        raise _Undo(
            f"{result.rowcount} rows of {table.name!r} hold this key: {key_col.name!r} does not "
            "identify one row (one column of a composite key?), so no write can name a record "
            "by it; choose the primary key or a unique NOT NULL column as the key",
            key_col.name,
            key,
            "KEY_NOT_UNIQUE",
        )
    return result.rowcount


def _key_now(
    conn: sa.Connection, key_col: sa.Column[Any], values: Mapping[str, Any], key: str | None
) -> str | None:
    """The row's key after a write: ``key``, unless the write set the key column itself (a
    code both systems edit), then the new key as stored, which the link must name from now
    on (the change log sees the old key deleted)."""
    if key_col.name not in values or values[key_col.name] is None:
        return key
    if key_text(values[key_col.name]) == key:  # the key it had: no need to look
        return key
    stored = conn.execute(sa.select(key_col).where(key_col == values[key_col.name])).scalar()
    return key if stored is None else key_text(stored)


def _guarded_update(
    conn: sa.Connection,
    src: Source,
    table: sa.Table,
    key_col: sa.Column[Any],
    key: Any,
    op: WriteOp,
    values: dict[str, Any],
) -> WriteOutcome:
    """An update made only if the row still holds the values its guard expects.

    The comparison is the UPDATE's own ``WHERE`` (``col = :v``, or ``col IS NULL``), so no
    edit can land between the check and the write, on any database. When no row matched, the
    row is read (locked: ``FOR UPDATE``; SQLite holds its write lock since the UPDATE) and
    compared as the reader gives values: a row that is gone is ``NOT_FOUND``; one whose
    stored form the SQL comparison missed (a date-time stored in another text form, say) is
    updated after all; one that differs changed meanwhile, and is left alone.
    """
    assert op.guard is not None
    expected = {n: v for n, v in op.guard.expected.items() if n in table.c}
    checks = [key_col == key]
    for name, value in expected.items():
        stored = write_value(table.c[name], value, src.zone)
        checks.append(table.c[name].is_(None) if stored is None else table.c[name] == stored)
    if _one(conn.execute(sa.update(table).where(*checks).values(values)), table, key_col, op.key):
        return WriteOutcome(ref=op.ref, ok=True, key=_key_now(conn, key_col, values, op.key))
    names = list(expected)
    row = conn.execute(
        _locked(conn, sa.select(key_col, *(table.c[n] for n in names)).where(key_col == key))
    ).first()
    if row is None:
        raise _Refused("no such row", key_col.name, op.key, "NOT_FOUND")
    now = {
        name: read_value(value, name in src.booleans, src.zone_of(name))
        for name, value in zip(names, row[1:], strict=True)
    }
    moved = [name for name in names if not _same(now[name], expected[name])]
    if not moved:
        hit = conn.execute(sa.update(table).where(key_col == key).values(values))
        _one(hit, table, key_col, op.key)
        return WriteOutcome(ref=op.ref, ok=True, key=_key_now(conn, key_col, values, op.key))
    name = moved[0]
    error = RecordRejected(
        f"record {op.ref}, field {name}: changed since it was read ({expected[name]!r} read, "
        f"{now[name]!r} now); not written",
        system=faults.SYSTEM,
        operation=f"update {table.name}",
        record=op.ref,
        field=name,
        value=now[name],
        code=CHANGED,
    )
    return WriteOutcome(ref=op.ref, ok=False, key=op.key, error=error, changed=True)


def _same(now: Any, read: Any) -> bool:
    """Whether a value read again is the value read before (numbers by their value)."""
    if now is None or read is None:
        return now is read
    if now == read:
        return True
    numbers = (int, float, Decimal)
    if isinstance(now, numbers) and isinstance(read, numbers):
        if isinstance(now, bool) or isinstance(read, bool):
            return False
        try:
            return Decimal(str(now)) == Decimal(str(read))
        except ArithmeticError:
            return False
    return False


def _locked(conn: sa.Connection, stmt: sa.Select[Any]) -> sa.Select[Any]:
    return stmt if conn.dialect.name == "sqlite" else stmt.with_for_update()


def _refusal(op: WriteOp, operation: str, refused: _Refused) -> WriteOutcome:
    return _outcome(op, operation, str(refused), refused.field, refused.value, refused.code)


def _outcome(
    op: WriteOp,
    operation: str,
    message: str,
    field: str | None,
    value: Any,
    code: str | None,
) -> WriteOutcome:
    """A refused op's outcome; the message names the record, the field and the value."""
    where = f"record {op.ref}" + (f", field {field}, value {value!r}" if field else "")
    error = RecordRejected(
        f"{where}: {message}",
        system=faults.SYSTEM,
        operation=operation,
        record=op.ref,
        field=field,
        value=value,
        code=code,
    )
    return WriteOutcome(ref=op.ref, ok=False, error=error)


def _rejection(
    exc: BaseException,
    op: WriteOp,
    operation: str,
    table: sa.Table,
    values: Mapping[str, Any],
    secrets: Iterable[str],
) -> WriteOutcome:
    message = faults.message_of(exc, secrets)
    field = faults.field_of(exc, message, values) or _guess_field(table, values, message, op)
    value = op.values.get(field, values.get(field)) if field else None
    return _outcome(op, operation, message, field, value, faults.code_of(exc))


def _guess_field(
    table: sa.Table, values: Mapping[str, Any], message: str, op: WriteOp
) -> str | None:
    """The column most likely at fault when the database did not name one."""
    text = message.lower()
    checked = _checked_column(table, values, message)
    if checked is not None:
        return checked
    if "range" in text or "overflow" in text:
        outside = [name for name, value in values.items() if _out_of_range(table.c[name], value)]
        if len(outside) == 1:
            return outside[0]
    if "null" in text and "check constraint" not in text:  # not PostgreSQL's failing row
        for col in table.c:
            if not col.nullable and col.name in values and values[col.name] is None:
                return col.name
        if op.action == "upsert":
            for col in table.c:
                missing = col.name not in values and col.server_default is None
                if missing and not col.nullable and table.autoincrement_column is not col:
                    return col.name
    for name, value in values.items():
        length = getattr(table.c[name].type, "length", None)
        if isinstance(value, str) and length is not None and len(value) > length:
            return name
    if "duplicate" in text or "unique" in text:
        unique = _unique_columns(table) & set(values)
        if len(unique) == 1:
            return unique.pop()
    if "foreign key" in text or "violates foreign" in text:
        fk_cols = [c.name for c in table.c if c.foreign_keys and c.name in values]
        if len(fk_cols) == 1:
            return fk_cols[0]
    return _quoted_value(values, message)


_CHECK_FAILED = "CHECK constraint failed: "
"""SQLite's message for a CHECK constraint, followed by its name or, unnamed, its expression."""


def _checked_column(table: sa.Table, values: Mapping[str, Any], message: str) -> str | None:
    """The one written column the CHECK constraint the database names is about.

    PostgreSQL and MariaDB name the constraint (``violates check constraint "ck_qty"``,
    ``CONSTRAINT `ck_qty` failed``), SQLite its name or expression: the reflected
    constraint's expression names the columns it checks. None when it checks several that
    were written (the message names the constraint), or no such constraint is known.
    """
    checks = [c for c in table.constraints if isinstance(c, sa.CheckConstraint) and c.name]
    texts = [str(c.sqltext) for c in checks if _names(message, str(c.name))]
    if not texts and _CHECK_FAILED in message:
        texts = [message.split(_CHECK_FAILED, 1)[1]]
    for text in texts:
        named = [n for n in values if re.search(rf"(?<![\w$]){re.escape(n)}(?![\w$])", text)]
        if len(named) == 1:
            return named[0]
    return None


def _names(message: str, name: str) -> bool:
    """Whether ``message`` names the constraint ``name`` (quoted, or SQLite's ``: name``)."""
    quoted = any(f"{q}{name}{q}" in message for q in ('"', "`", "'"))
    return quoted or message.endswith(f": {name}")


_INTEGER_BITS: tuple[tuple[type[Any], int], ...] = (
    (sa.SmallInteger, 15),
    (sa.BigInteger, 63),
    (sa.Integer, 31),
)
"""Signed integer column types and the bits of their magnitude (MariaDB's TINYINT and
MEDIUMINT are named by the server itself)."""


def _out_of_range(column: sa.Column[Any], value: Any) -> bool:
    """Whether the number ``value`` cannot be held by ``column``'s declared type."""
    if not isinstance(value, int | float | Decimal) or isinstance(value, bool):
        return False
    kind = column.type
    for integer, bits in _INTEGER_BITS:
        if isinstance(kind, integer) and not getattr(kind, "unsigned", False):
            return not -(2**bits) <= value < 2**bits
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        precision, scale = kind.precision, kind.scale or 0
        if isinstance(precision, int):
            try:
                return abs(Decimal(str(value))) >= Decimal(10) ** (precision - scale)
            except ArithmeticError:
                return False
    return False


def _quoted_value(values: Mapping[str, Any], message: str) -> str | None:
    """The one written column whose value the message quotes (``invalid input syntax for type
    integer: "abc"``, ``Not a boolean value: 'yes'``)."""
    quoted = [
        name
        for name, value in values.items()
        if isinstance(value, str) and value and any(f"{q}{value}{q}" in message for q in ("'", '"'))
    ]
    return quoted[0] if len(quoted) == 1 else None


def _unique_columns(table: sa.Table) -> set[str]:
    found = {c.name for c in table.c if c.unique}
    groups = [list(u.columns) for u in table.constraints if isinstance(u, sa.UniqueConstraint)]
    groups += [list(ix.columns) for ix in table.indexes if ix.unique]
    found.update(group[0].name for group in groups if len(group) == 1)
    return found
