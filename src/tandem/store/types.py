"""Column types that behave the same on SQLite, PostgreSQL and MariaDB/MySQL.

* :class:`UtcDateTime`: instants go in aware and come out aware UTC, with microseconds
  (``timestamptz`` on PostgreSQL, ``DATETIME(6)`` holding UTC on MariaDB, ISO text on SQLite).
* :class:`CodecJson`: any :mod:`tandem.codec` value, stored as JSON text (``LONGTEXT`` on
  MariaDB), so Decimal, date, datetime and bytes survive exactly on every backend.

:func:`binds` gives the same conversions as plain functions, for bulk writes that hand rows
straight to the driver instead of paying SQLAlchemy's per-row bind processing; :func:`reads`
gives the way back, for bulk reads of the driver's rows.

The DDL forms (:data:`TIMESTAMP`, :data:`LONG_TEXT`, :data:`KEY`) are what the migrations use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from tandem import codec
from tandem.connectors import base as connectors_base
from tandem.errors import StoreError

_MYSQL = ("mysql", "mariadb")

TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *_MYSQL)
"""DDL type of every instant column."""

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL)
"""DDL type of every JSON column."""

KEY_LENGTH = connectors_base.KEY_LENGTH
"""Longest record key the store holds (Salesforce Ids are 18, ERP keys are short)."""

NAME_LENGTH = 100
"""Longest flow or entity name."""


def to_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive value is taken to be UTC already."""
    zone = value.tzinfo
    if zone is UTC:
        return value
    return value.replace(tzinfo=UTC) if zone is None else value.astimezone(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC ``datetime`` column; naive values are taken to be UTC."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = to_utc(value)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if instant.tzinfo is None:
            return instant.replace(tzinfo=UTC)
        return instant.astimezone(UTC)


class CodecJson(sa.types.TypeDecorator[Any]):
    """Any :mod:`tandem.codec` value, kept as tagged JSON text."""

    impl = sa.Text()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in _MYSQL:
            return dialect.type_descriptor(mysql.LONGTEXT())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else codec.dumps(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else codec.loads(value)


def _json(value: Any) -> str | None:
    return None if value is None else codec.dumps(value)


def _instant_aware(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


def _instant_naive(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value).replace(tzinfo=None)


def _instant_text(value: datetime | None) -> str | None:
    # What SQLAlchemy's SQLite DATETIME writes for the naive UTC value: the ISO form with a
    # space and six fraction digits, 26 characters (the UTC offset cut off).
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = to_utc(value)
    return value.isoformat(" ", "microseconds")[:26]


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Binds:
    """The driver-level value of each store column type on one backend.

    Each function takes what the column takes (``None`` included) and returns exactly what
    SQLAlchemy's processing of that column hands the driver, so rows bound with them can go
    to ``exec_driver_sql`` and are stored as an insert through the typed table stores them.

    Attributes:
        instant: for :class:`UtcDateTime` columns.
        json: for :class:`CodecJson` columns; raises as :func:`tandem.codec.dumps` does.
        flag: for ``Boolean`` columns.
    """

    instant: Callable[[datetime | None], Any]
    json: Callable[[Any], str | None]
    flag: Callable[[bool | None], Any]


def binds(dialect: Dialect) -> Binds:
    """The :class:`Binds` of ``dialect`` (``sqlite``, ``postgresql``, ``mysql``, ``mariadb``)."""
    if dialect.name == "postgresql":
        instant: Callable[[datetime | None], Any] = _instant_aware
    elif dialect.name == "sqlite":
        instant = _instant_text
    elif dialect.name in _MYSQL:
        instant = _instant_naive
    else:
        raise StoreError(f"state store does not support the {dialect.name} database")
    flag = sa.Boolean().dialect_impl(dialect).bind_processor(dialect) or _same
    return Binds(instant=instant, json=_json, flag=flag)


READ_MEMORY = 4096
"""Most instant texts one :class:`Reads` keeps parsed; it starts again when full."""


@dataclass(frozen=True, slots=True)
class Reads:
    """The Python value of each store column type from what one backend's driver returns.

    The way back of :class:`Binds`: each function takes a column's value as the driver
    returns it (``None`` included) and returns exactly what SQLAlchemy's result processing of
    that column returns, so rows read with ``exec_driver_sql`` come out as a typed select's.

    Attributes:
        instant: for :class:`UtcDateTime` columns. Text (SQLite's form) is parsed once per
            distinct value while this object lives: the rows of one read share few instants,
            and the parsed ``datetime`` is immutable.
        json: for :class:`CodecJson` columns; raises as :func:`tandem.codec.loads` does.
    """

    instant: Callable[[Any], datetime | None]
    json: Callable[[Any], Any]


def reads(dialect: Dialect) -> Reads:
    """Fresh :class:`Reads` of ``dialect`` (``sqlite``, ``postgresql``, ``mysql``, ``mariadb``):
    make one per read, so that its memory of instants lasts as long as the read."""
    if dialect.name not in ("postgresql", "sqlite", *_MYSQL):
        raise StoreError(f"state store does not support the {dialect.name} database")
    # The column type's own processing (the driver's form parsed, then made aware UTC).
    process = UtcDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert process is not None  # a TypeDecorator with process_result_value always has one
    return Reads(instant=_memorised(process), json=_loads)


def _memorised(process: Callable[[Any], Any]) -> Callable[[Any], datetime | None]:
    """``process`` of instants, remembering its result for each text it was given.

    Only text is remembered: it is what SQLite returns, and equal texts are the same instant.
    The ``datetime`` objects other drivers return go to ``process`` every time (two of them
    can compare equal yet differ, by zone or by ``fold``).
    """
    memory: dict[str, datetime] = {}

    def instant(value: Any) -> datetime | None:
        if value is None:
            return None
        if type(value) is not str:
            result: datetime | None = process(value)
            return result
        parsed = memory.get(value)
        if parsed is None:
            if len(memory) >= READ_MEMORY:
                memory.clear()
            parsed = memory[value] = process(value)
        return parsed

    return instant


def _loads(value: Any) -> Any:
    return None if value is None else codec.loads(value)


__all__ = [
    "KEY_LENGTH",
    "LONG_TEXT",
    "NAME_LENGTH",
    "READ_MEMORY",
    "TIMESTAMP",
    "Binds",
    "CodecJson",
    "Reads",
    "UtcDateTime",
    "binds",
    "reads",
    "to_utc",
]
