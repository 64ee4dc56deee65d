"""PostgreSQL modified-at capture over a domain of ``timestamp(0)`` (values rounded to the
second, so many rows tie): a tie larger than a batch is read whole, once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlerp import collect

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings

pytestmark = pytest.mark.postgres


@pytest.fixture
def table(pg_url: str) -> Iterator[tuple[sa.Engine, str]]:
    name = f"stamped_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DOMAIN {name}_at AS timestamp(0)")
        conn.exec_driver_sql(
            f"CREATE TABLE {name} (id integer PRIMARY KEY, name text, m {name}_at)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {name} SELECT g, 'n' || g, "
            "TIMESTAMP '2026-03-01 10:00:00.4' + (g / 5) * interval '1 second' "
            "FROM generate_series(1, 12) g"
        )
    try:
        yield engine, name
    finally:
        engine.dispose()


async def test_pg_modified_at_of_a_timestamp0_domain_reads_ties_whole(
    pg_url: str, table: tuple[sa.Engine, str]
) -> None:
    _, name = table
    conn = SqlConnector(SqlSettings(url=pg_url, capture="modified_column"))
    await conn.open()
    binding = EntityBinding(
        name="stamped", source=name, key="id", fields=("name",), options={"modified_column": "m"}
    )
    try:
        first = [c for batch in await collect(conn.read_changes(binding, None, 3)) for c in batch]
        again = await collect(conn.read_changes(binding, first[6].cursor, 2))
    finally:
        await conn.close()
    assert [c.key for c in first] == [str(k) for k in range(1, 13)]
    assert {c.modified_at.microsecond for c in first} == {0}
    assert [c.key for batch in again for c in batch] == [str(k) for k in range(8, 13)]
