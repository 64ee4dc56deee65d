"""Column types that behave the same on SQLite, PostgreSQL and MariaDB/MySQL.

* :class:`UtcDateTime`: instants go in aware and come out aware UTC, with microseconds
  (``timestamptz`` on PostgreSQL, ``DATETIME(6)`` holding UTC on MariaDB, ISO text on SQLite).
* :class:`CodecJson`: any :mod:`tandem.codec` value, stored as JSON text (``LONGTEXT`` on
  MariaDB), so Decimal, date, datetime and bytes survive exactly on every backend.

The DDL forms (:data:`TIMESTAMP`, :data:`LONG_TEXT`, :data:`KEY`) are what the migrations use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from tandem import codec

_MYSQL = ("mysql", "mariadb")

TIMESTAMP = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), *_MYSQL)
"""DDL type of every instant column."""

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), *_MYSQL)
"""DDL type of every JSON column."""

KEY_LENGTH = 255
"""Longest record key the store holds (Salesforce Ids are 18, ERP keys are short)."""

NAME_LENGTH = 100
"""Longest flow or entity name."""


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
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
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


__all__ = ["KEY_LENGTH", "LONG_TEXT", "NAME_LENGTH", "TIMESTAMP", "CodecJson", "UtcDateTime"]
