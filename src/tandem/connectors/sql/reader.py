"""Reads: change batches from the change log or a modified-at column, current records.

Every function runs one bounded query on a synchronous connection and returns one batch; the
connector calls them again with the position reached (keyset pagination), so memory stays
bounded whatever the volume.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from tandem.connectors.base import EPOCH, KEY_LENGTH, Change, Cursor, utc
from tandem.connectors.sql.faults import SYSTEM
from tandem.connectors.sql.source import Source, parser_of
from tandem.errors import Fatal

IN_CHUNK = 500
KEYLESS_SHOWN = 5
"""How many rows without a key a warning shows."""


def key_text(value: Any) -> str:
    """The text of a key value, as :attr:`Change.key` carries it.

    ``str()`` of the value, except that a decimal is written without an exponent
    (``0.00000001``, not ``1E-8``: the databases' own text of it) and an aware date-time is
    written in UTC (``2026-01-02 03:04:05+00:00``), whatever time zone the session gave it.
    The change-log triggers write the same text (``capture.key_kind``), so a logged key finds
    its row, and :attr:`Source.parse_key` turns it back into the value (the writer's keys of
    the rows it creates are this text too).
    """
    render = _KEY_TEXT.get(type(value))
    return str(value) if render is None else render(value)


def _decimal_text(value: Decimal) -> str:
    return format(value, "f")


def _datetime_text(value: datetime) -> str:
    return str(value if value.tzinfo is None else value.astimezone(UTC))


def _bytes_text(value: bytes) -> str:
    """A key the driver gave as bytes (a query's binary column on MariaDB or SQLite, whose
    drivers do not say it is binary): its UTF-8 text, which a lookup by the key's text finds
    again. Other bytes (a binary UUID) could only be keyed by a text no lookup finds, so a
    re-read would take the record for gone: the read stops instead.

    Raises:
        Fatal: the bytes are not UTF-8 text; the error shows their start and what to do.
    """
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise Fatal(
            f"a key value is binary data, not UTF-8 text ({value[:16]!r}): Tandem keys records "
            "by text; select the key column as text in the entity's query (for instance "
            "HEX(column) on MariaDB/MySQL or SQLite)",
            system=SYSTEM,
            operation="read",
        ) from None


_KEY_TEXT: dict[type, Callable[[Any], str]] = {
    Decimal: _decimal_text,
    datetime: _datetime_text,
    bytes: _bytes_text,
}


def _naive(value: datetime) -> datetime:
    return utc(value).replace(tzinfo=None)


def changelog_batch(
    conn: sa.Connection,
    src: Source,
    log: sa.Table,
    since: Cursor | None,
    size: int,
    upto: datetime | None = None,
    only: sa.ColumnElement[bool] | None = None,
) -> tuple[list[Change], bool]:
    """The next batch of changes after ``since`` from the change log.

    ``upto``: entries stamped later are left out (naive UTC); ``only``: the entries to read
    (late commits behind the cursor: :mod:`tandem.connectors.sql.late`).

    Change-log entries are read in ``(changed_at, row_key)`` order, several entries of one row
    collapse to the latest, and each row is joined to its current state (gone: a delete). The
    cursor of a change is the position of its entry, so resuming after the batch's last change
    resumes after the last entry read.

    The join happens here, not in SQL: a key in the log is text, and only the key column's
    Python parser decides which row it names (a database cast would match differently, or
    fail on PostgreSQL for a key that does not parse).

    Returns:
        The changes in cursor order, and whether more entries may follow.
    """
    stmt = sa.select(log.c.row_key, log.c.changed_at).where(log.c.table_name == src.capture_name)
    if since is not None:
        at = _naive(since.modified_at)
        stmt = stmt.where(
            sa.or_(
                log.c.changed_at > at,
                sa.and_(log.c.changed_at == at, log.c.row_key > since.key),
            )
        )
    if upto is not None:
        stmt = stmt.where(log.c.changed_at <= upto)
    if only is not None:
        stmt = stmt.where(only)
    stmt = stmt.order_by(log.c.changed_at, log.c.row_key, log.c.seq).limit(size)
    entries = conn.execute(stmt).all()
    latest: dict[str, datetime] = {}
    for row_key, changed_at in entries:
        latest[str(row_key)] = changed_at  # later entries of a row overwrite earlier
    rows = _current(conn, src, list(latest))
    changes: list[Change] = []
    add = changes.append
    to_fields, is_deleted = src.to_fields, src.is_deleted
    last: Any = None
    at = EPOCH
    for key, raw in sorted(latest.items(), key=_BY_TIME_THEN_KEY):
        if raw != last:  # the rows of one ERP statement share their instant: convert it once
            last, at = raw, utc(raw)
        row = rows.get(key)
        if row is None or is_deleted(row):
            add(Change(key=key, fields={}, modified_at=at, deleted=True))
        else:
            add(Change(key=key, fields=to_fields(row), modified_at=at))
    return changes, len(entries) == size


_BY_TIME_THEN_KEY = itemgetter(1, 0)
"""Sort key of ``(key, changed_at)`` items: cursor order (a naive or aware instant sorts as
its UTC value does)."""


def modified_batch(
    conn: sa.Connection, src: Source, since: Cursor | None, size: int
) -> tuple[list[Change], bool]:
    """The next batch of rows whose modified-at column lies after ``since``.

    ``WHERE (m > t) OR (m = t AND key > k) ORDER BY m, key LIMIT n``. On SQLite the column
    is compared as ``strftime('%Y-%m-%d %H:%M:%f')`` text, so positions carry milliseconds.
    The cursor's key is compared as the key's type (:func:`_after_key`), also when the
    catalogue does not give it (a query's key). Rows with no modified-at value and hard
    deletes are not seen in this mode, nor rows without a key (:func:`keyless` names them).
    """
    m, at = _modified_at(conn, src, since)
    stmt = sa.select(*src.select_columns(), m.label("tandem_m")).where(_keyed(conn, src))
    if since is not None:
        after_key = _after_key(conn, src, m, at, since.key) if since.key else None
        if after_key is None:
            stmt = stmt.where(m >= at)
        else:
            stmt = stmt.where(sa.or_(m > at, sa.and_(m == at, after_key)))
    stmt = stmt.order_by(m, src.key).limit(size)
    changes = []
    rows = conn.execute(stmt).all()
    for row in rows:
        at_row = src.modified_instant(row[-1])  # tandem_m
        key = key_text(row[0])
        if src.is_deleted(row):
            changes.append(Change(key=key, fields={}, modified_at=at_row, deleted=True))
        else:
            changes.append(Change(key=key, fields=src.to_fields(row), modified_at=at_row))
    return changes, len(rows) == size


def _modified_at(
    conn: sa.Connection, src: Source, since: Cursor | None
) -> tuple[sa.ColumnElement[Any], Any]:
    """The modified-at column as compared, and the cursor's instant in its terms (or None).

    On SQLite the column is compared as ``strftime('%Y-%m-%d %H:%M:%f')`` text.
    """
    assert src.modified is not None
    sqlite = conn.dialect.name == "sqlite"
    m: sa.ColumnElement[Any] = (
        sa.func.strftime("%Y-%m-%d %H:%M:%f", src.modified) if sqlite else src.modified
    )
    if since is None:
        return m, None
    at: Any = src.modified_param(since.modified_at)
    if sqlite:
        at = at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d}"
    return m, at


def _keyed(conn: sa.Connection, src: Source) -> sa.ColumnElement[bool]:
    """The rows a modified-at read takes: with a modified-at value, and with a key."""
    assert src.modified is not None
    dated: list[sa.ColumnElement[bool]] = []
    if conn.dialect.name in ("mysql", "mariadb"):  # a zero date ('0000-00-00') is no value
        dated = [sa.func.month(src.modified) > 0, sa.func.dayofmonth(src.modified) > 0]
    return sa.and_(src.modified.is_not(None), *dated, has_key(conn, src))


def has_key(conn: sa.Connection, src: Source) -> sa.ColumnElement[bool]:
    """Rows a record can stand for: the key is not NULL (where it may be) and, where it is
    text that may be longer, not longer than :data:`KEY_LENGTH` characters."""
    conditions: list[sa.ColumnElement[bool]] = []
    if src.key_nullable:
        conditions.append(src.key.is_not(None))
    if src.key_long:
        length = sa.func.length if conn.dialect.name == "sqlite" else sa.func.char_length
        conditions.append(length(src.key) <= KEY_LENGTH)
    return sa.and_(sa.true(), *conditions)


def keyless(
    conn: sa.Connection, src: Source, since: Cursor | None, limit: int = KEYLESS_SHOWN
) -> tuple[list[dict[str, Any]], bool]:
    """Rows whose key is NULL or too long (:func:`has_key`), which no read returns: no change,
    record or write can name them.

    With a modified-at column and ``since``, those modified at or after its instant (the rows
    a modified-at read after ``since`` would have returned). Only a key that may be NULL
    (:attr:`Source.key_nullable`) or too long (:attr:`Source.key_long`) is looked at.

    Returns:
        Up to ``limit`` such rows (their fields), and whether there are more.
    """
    if not (src.key_nullable or src.key_long):
        return [], False
    stmt = sa.select(*src.select_columns()).where(sa.not_(has_key(conn, src)))
    if src.modified is not None and since is not None:
        m, at = _modified_at(conn, src, since)
        stmt = stmt.where(m >= at)
    rows = conn.execute(stmt.limit(limit + 1)).all()
    return [src.to_fields(row) for row in rows[:limit]], len(rows) > limit


def _after_key(
    conn: sa.Connection, src: Source, m: sa.ColumnElement[Any], at: Any, key: str
) -> sa.ColumnElement[bool] | None:
    """Which rows of the cursor's tie (``m = at``) come after its ``key``.

    The key is compared as the key's own type, so the tie is read in the order of
    ``ORDER BY m, key``. Where that type is unknown (:attr:`Source.key_known`), it is the type
    of a value of the tie itself; no row in the tie: nothing to compare. ``None``: the key
    does not parse as that type (a cursor from elsewhere): the whole tie is read again.
    """
    parse = src.parse_key
    if not src.key_known:
        sample = conn.execute(
            sa.select(src.key).where(m == at, src.key.is_not(None)).limit(1)
        ).scalar()
        if sample is None:
            return sa.false()
        parse = parser_of(type(sample))
    try:
        after: sa.ColumnElement[bool] = src.key > _bound(src, parse(key))
    except (ValueError, ArithmeticError):
        return None
    return after


def _bound(src: Source, value: Any) -> Any:
    """``value`` to compare the key column with: a boolean as a parameter of the key's type
    (SQLAlchemy takes a bare ``True``/``False`` for SQL's constants, which ``>`` refuses)."""
    return sa.literal(value, src.key.type) if isinstance(value, bool) else value


def all_batch(
    conn: sa.Connection, src: Source, log: sa.Table | None, after: Any, size: int
) -> tuple[list[Change], Any, bool]:
    """The next batch of live records in key order after the native key ``after``.

    Rows without a key are left out (:func:`keyless` names them).

    Returns:
        The live records, the last key read (for the next call), and whether more may follow.
    """
    stmt = sa.select(*src.select_columns())
    if after is not None:
        stmt = stmt.where(src.key > _bound(src, after))
    # NULL sorts first on SQLite and MariaDB: a page of them would never end
    stmt = stmt.where(has_key(conn, src))
    rows = conn.execute(stmt.order_by(src.key).limit(size)).all()
    if not rows:
        return [], after, False
    last = rows[-1][0]
    return _live(conn, src, log, rows), last, len(rows) == size


def records(
    conn: sa.Connection, src: Source, log: sa.Table | None, keys: Sequence[str]
) -> dict[str, Change]:
    """The current state of ``keys``; absent and (soft-)deleted ones left out."""
    found: dict[str, Change] = {}
    unique = list(dict.fromkeys(keys))
    stmt = src.by_keys
    for start in range(0, len(unique), IN_CHUNK):
        chunk = src.key_values(unique[start : start + IN_CHUNK])
        rows = conn.execute(stmt, {"keys": chunk}).all()
        found.update((c.key, c) for c in _live(conn, src, log, rows))
    return found


def _current(conn: sa.Connection, src: Source, keys: list[str]) -> dict[str, sa.Row[Any]]:
    rows: dict[str, sa.Row[Any]] = {}
    stmt = src.by_keys
    for start in range(0, len(keys), IN_CHUNK):
        chunk = src.key_values(keys[start : start + IN_CHUNK])
        for row in conn.execute(stmt, {"keys": chunk}).all():
            rows[key_text(row[0])] = row
    return rows


def _live(
    conn: sa.Connection, src: Source, log: sa.Table | None, rows: Sequence[sa.Row[Any]]
) -> list[Change]:
    """Changes for live rows; ``modified_at`` from the modified column, else the change log."""
    live = [r for r in rows if not src.is_deleted(r)]
    keys = [key_text(r[0]) for r in live]
    stamps: dict[str, datetime] = {}
    if src.modified is None and log is not None and keys:
        stmt = _latest_stamps(log)
        found = conn.execute(stmt, {"table": src.capture_name, "keys": keys})
        stamps = {str(k): utc(at) for k, at in found if at is not None}
    out = []
    for key, row in zip(keys, live, strict=True):
        if src.modified is not None:
            raw = src.modified_of(row)
            at = src.modified_instant(raw) if raw else EPOCH
        else:
            at = stamps.get(key, EPOCH)
        out.append(Change(key=key, fields=src.to_fields(row), modified_at=at))
    return out


@functools.lru_cache(maxsize=64)
def _latest_stamps(log: sa.Table) -> sa.Select[Any]:
    """The latest change-log instant of each of the ``keys`` of table ``table`` (both bound
    parameters): built once per change log, not on every read."""
    return (
        sa.select(log.c.row_key, sa.func.max(log.c.changed_at))
        .where(
            log.c.table_name == sa.bindparam("table"),
            log.c.row_key.in_(sa.bindparam("keys", expanding=True)),
        )
        .group_by(log.c.row_key)
    )
