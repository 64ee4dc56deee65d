"""Helpers for the SQL connector tests of one table's shape: a table made for the test, and
its description by the connector."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tandem.connectors.base import EntityBinding, FieldInfo
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine


def new_table(
    url: str,
    columns: str,
    prefix: str = "t",
    rows: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> str:
    """A new table of ``columns`` (DDL) named ``<prefix>_<random>``, holding ``rows`` (the
    ``VALUES`` list of an insert, with ``:name`` parameters of ``params``) when given; its
    name. ``{table}`` in either stands for the name (a constraint named after the table)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(SqlSettings(url=url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {name} ({columns.replace('{table}', name)})")
            if rows is not None:
                insert = f"INSERT INTO {name} VALUES {rows.replace('{table}', name)}"
                conn.execute(sa.text(insert), dict(params or {}))
    finally:
        engine.dispose()
    return name


async def describe_fields(url: str, binding: EntityBinding) -> dict[str, FieldInfo]:
    """The fields of ``binding`` as a connector on ``url`` describes them."""
    conn = SqlConnector(SqlSettings(url=url))
    await conn.open()
    try:
        return dict((await conn.describe(binding)).fields)
    finally:
        await conn.close()
