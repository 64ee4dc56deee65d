"""Binary columns (PostgreSQL ``bytea``, MariaDB ``BLOB`` / ``VARBINARY``, SQLite ``BLOB``).

Before the fix their values reached records as ``bytes``, which the connector contract does not
carry (no Salesforce field takes them as read; the mapping checks let an ``other`` column map to
text). Now a binary column an entity maps (a field, or the external id) is refused at describe
(``tandem check``, start) naming the entity, the column and its type; one it does not map is
left out of reads, and writes leave it as it is.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlerp import collect
from sqltables import new_table

from tandem.connectors.base import EntityBinding, WriteOp
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine
from tandem.errors import BindingError

_BINARY = {"postgresql": "BYTEA", "sqlite": "BLOB"}
"""The binary column type by dialect (MariaDB: ``VARBINARY(16)``)."""


def _documents(url: str) -> tuple[str, sa.Engine]:
    """A table with a binary column holding a value, and its engine."""
    engine = create_engine(SqlSettings(url=url))
    binary = _BINARY.get(engine.dialect.name, "VARBINARY(16)")
    name = new_table(
        url,
        f"id INTEGER PRIMARY KEY, title VARCHAR(20), "
        f"data {binary}, blob2 {'BLOB' if binary == 'VARBINARY(16)' else binary}",
        "docs",
        rows="(1, 'a', :b, NULL)",
        params={"b": b"\x00\xff"},
    )
    return name, engine


@pytest.mark.parametrize("setting", ["fields", "external_id"])
async def test_a_mapped_binary_column_is_refused_naming_entity_column_and_type(
    db_url: str, setting: str
) -> None:
    table, engine = _documents(db_url)
    engine.dispose()
    binding = (
        EntityBinding(name="doc", source=table, key="id", fields=("title", "data"))
        if setting == "fields"
        else EntityBinding(
            name="doc", source=table, key="id", fields=("title",), external_id="data"
        )
    )
    conn = SqlConnector(SqlSettings(url=db_url))
    await conn.open()
    try:
        with pytest.raises(BindingError) as caught:
            await conn.describe(binding)
        with pytest.raises(BindingError):
            await collect(conn.read_all(binding, 10))
    finally:
        await conn.close()
    err = caught.value
    assert (err.entity, err.setting, err.native) == ("doc", setting, "data")
    message = str(err)
    assert "'data'" in message and "binary" in message
    assert any(kind in message for kind in ("BYTEA", "BLOB", "VARBINARY(16)")), message


@pytest.mark.parametrize("fields", [("title",), ()])
async def test_an_unmapped_binary_column_is_left_out_of_reads_and_writes(
    db_url: str, fields: tuple[str, ...]
) -> None:
    table, engine = _documents(db_url)
    binding = EntityBinding(name="doc", source=table, key="id", fields=fields)
    conn = SqlConnector(SqlSettings(url=db_url))
    await conn.open()
    try:
        described = (await conn.describe(binding)).fields
        read = [c for batch in await collect(conn.read_all(binding, 10)) for c in batch]
        op = WriteOp(action="update", ref="r", key="1", values={"title": "b"})
        (out,) = await conn.write_batch(binding, [op])
    finally:
        await conn.close()
    assert described["data"].type == "other"
    assert [(c.key, dict(c.fields)) for c in read] == [("1", {"title": "a"})]
    assert out.ok, out.error
    with engine.connect() as c:
        row = c.execute(sa.text(f"SELECT title, data FROM {table}")).one()
    engine.dispose()
    assert (row[0], bytes(row[1])) == ("b", b"\x00\xff")


@pytest.mark.postgres
async def test_a_query_s_bytea_column_is_known_by_its_type_code(pg_url: str) -> None:
    table, engine = _documents(pg_url)
    engine.dispose()
    query = {"query": f"SELECT id, title, data FROM {table}"}
    mapped = EntityBinding(name="doc", source="q", key="id", fields=("data",), options=query)
    unmapped = EntityBinding(name="doc", source="q", key="id", fields=(), options=query)
    conn = SqlConnector(SqlSettings(url=pg_url))
    await conn.open()
    try:
        with pytest.raises(BindingError, match=r"'data' of 'q' is binary \(BYTEA\)"):
            await conn.describe(mapped)
        read = [c for batch in await collect(conn.read_all(unmapped, 10)) for c in batch]
    finally:
        await conn.close()
    assert [(c.key, dict(c.fields)) for c in read] == [("1", {"title": "a"})]
