"""Describe and the key audit on a composite primary key, on every database.

Before the fix ``describe`` marked every column of a composite primary key ``unique``, yet a
composite key makes no single column unique: two order lines share an ``order_no``. Only a
single-column primary key, or a unique constraint or index on the column alone, makes it so.
"""

from __future__ import annotations

from sqltables import describe_fields, new_table

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings


def _lines(url: str) -> str:
    """A table keyed by (order_no, line_no), with a column unique on its own and one unique
    only together with another."""
    return new_table(
        url,
        "order_no INTEGER NOT NULL, line_no INTEGER NOT NULL, "
        "code VARCHAR(20) NOT NULL UNIQUE, sku VARCHAR(20) NOT NULL, "
        "qty INTEGER NOT NULL, PRIMARY KEY (order_no, line_no), "
        "CONSTRAINT {table}_sq UNIQUE (sku, qty)",
        "lines",
        rows="(1, 1, 'a', 's', 1), (1, 2, 'b', 's', 2)",
    )


async def test_no_column_of_a_composite_primary_key_is_described_unique(db_url: str) -> None:
    table = _lines(db_url)
    binding = EntityBinding(name="line", source=table, key="code", fields=())
    fields = await describe_fields(db_url, binding)
    unique = {name for name, info in fields.items() if info.unique}
    assert unique == {"code"}, fields
    # Typed as their columns: only a single-column primary key is an ``id``.
    assert fields["order_no"].type == "integer" and fields["line_no"].type == "integer"


async def test_a_single_column_primary_key_is_still_unique(db_url: str) -> None:
    name = new_table(db_url, "id INTEGER PRIMARY KEY, label VARCHAR(9)", "single")
    binding = EntityBinding(name="one", source=name, key="id", fields=())
    fields = await describe_fields(db_url, binding)
    assert fields["id"].unique and not fields["label"].unique


async def test_the_key_audit_warns_of_one_column_of_a_composite_primary_key(
    db_url: str,
) -> None:
    """``tandem check``: a key that is only part of the primary key is kept unique by
    nothing (a warning while no two rows share it, an error naming them once some do)."""
    table = _lines(db_url)
    conn = SqlConnector(SqlSettings(url=db_url))
    await conn.open()
    try:
        line = EntityBinding(name="line", source=table, key="line_no", fields=())
        findings = await conn.audit(line)
        assert len(findings) == 1 and not findings[0].error, findings
        assert "one column of the primary key (order_no, line_no)" in findings[0].message
        assert "nothing keeps it so" in findings[0].message
        order = EntityBinding(name="order", source=table, key="order_no", fields=())
        shared = await conn.audit(order)
        assert len(shared) == 1 and shared[0].error and "'1' (2 rows)" in shared[0].message
        code = EntityBinding(name="code", source=table, key="code", fields=())
        assert await conn.audit(code) == []
    finally:
        await conn.close()
