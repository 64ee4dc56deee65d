"""Describe types the columns of a composite primary key as their own columns, on every database.

Before the fix ``describe`` typed every column of a primary key ``id``, a composite one's too:
a ``DATE`` column of a key ``(region, day)`` came out as ``id``, so a flow mapping a date field
to it was refused (a date cannot be stored in an ``id``) and a text field allowed. Only a
single-column primary key names a record on its own and is typed ``id``.
"""

from __future__ import annotations

import uuid

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine


def _create(url: str, ddl: str) -> str:
    """A new table of columns ``ddl``; its name."""
    name = f"types_{uuid.uuid4().hex[:8]}"
    engine = create_engine(SqlSettings(url=url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {name} ({ddl})")
    finally:
        engine.dispose()
    return name


async def _describe(url: str, table: str, key: str) -> dict[str, str]:
    conn = SqlConnector(SqlSettings(url=url))
    await conn.open()
    try:
        binding = EntityBinding(name="daily", source=table, key=key, fields=())
        fields = (await conn.describe(binding)).fields
    finally:
        await conn.close()
    return {name: info.type for name, info in fields.items()}


async def test_the_columns_of_a_composite_primary_key_keep_their_types(db_url: str) -> None:
    table = _create(
        db_url,
        "region VARCHAR(8) NOT NULL, day DATE NOT NULL, seq INTEGER NOT NULL, "
        "ref VARCHAR(20) NOT NULL UNIQUE, qty INTEGER, PRIMARY KEY (region, day, seq)",
    )
    types = await _describe(db_url, table, "ref")
    assert types == {
        "region": "string",
        "day": "date",
        "seq": "integer",
        "ref": "string",
        "qty": "integer",
    }


async def test_a_single_column_primary_key_is_still_typed_id(db_url: str) -> None:
    table = _create(db_url, "code VARCHAR(12) PRIMARY KEY, day DATE")
    assert await _describe(db_url, table, "code") == {"code": "id", "day": "date"}
