"""The dialect helper of an engine, and its change-log table."""

from __future__ import annotations

import sqlalchemy as sa

from tandem.connectors.sql.capture.common import _Dialect, changelog_table
from tandem.connectors.sql.capture.mysql import _Mysql
from tandem.connectors.sql.capture.postgres import _Postgres
from tandem.connectors.sql.capture.sqlite import _Sqlite
from tandem.errors import ConfigError


def _dialect(engine: sa.Engine, changelog: str, schema: str | None, channel: str) -> _Dialect:
    kinds: dict[str, type[_Dialect]] = {
        "sqlite": _Sqlite,
        "postgresql": _Postgres,
        "mysql": _Mysql,
        "mariadb": _Mysql,
    }
    kind = kinds.get(engine.dialect.name)
    if kind is None:
        raise ConfigError(f"change capture is not available for {engine.dialect.name}")
    return kind(engine, changelog, schema, channel)


def changelog_table_for(d: _Dialect) -> sa.Table:
    """The change-log :class:`sa.Table` of a dialect helper (internal)."""
    return changelog_table(d.changelog, d.log_schema)
