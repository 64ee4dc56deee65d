"""Describe types the columns of a composite primary key as their own columns, on every database.

Before the fix ``describe`` typed every column of a primary key ``id``, a composite one's too:
a ``DATE`` column of a key ``(region, day)`` came out as ``id``, so a flow mapping a date field
to it was refused (a date cannot be stored in an ``id``) and a text field allowed. Only a
single-column primary key names a record on its own and is typed ``id``.
"""

from __future__ import annotations

from sqltables import describe_fields, new_table

from tandem.connectors.base import EntityBinding


async def _describe(url: str, table: str, key: str) -> dict[str, str]:
    binding = EntityBinding(name="daily", source=table, key=key, fields=())
    return {name: info.type for name, info in (await describe_fields(url, binding)).items()}


async def test_the_columns_of_a_composite_primary_key_keep_their_types(db_url: str) -> None:
    table = new_table(
        db_url,
        "region VARCHAR(8) NOT NULL, day DATE NOT NULL, seq INTEGER NOT NULL, "
        "ref VARCHAR(20) NOT NULL UNIQUE, qty INTEGER, PRIMARY KEY (region, day, seq)",
        "types",
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
    table = new_table(db_url, "code VARCHAR(12) PRIMARY KEY, day DATE", "types")
    assert await _describe(db_url, table, "code") == {"code": "id", "day": "date"}
