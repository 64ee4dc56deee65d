"""Writes by key: a key a write changes, and a key column that names several rows.

Before the fix, an update (or an upsert matched by its external id) that set the key column
itself (a customer code both systems edit) answered with the row's old key, so the link kept
a key no row held any more; and an update or delete by a key column that is not unique (one
column of a composite key, say, in modified-at capture, which ``install-capture`` does not
check) changed or deleted every row holding that value.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from tandem.connectors.base import EntityBinding, WriteOp
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine


@pytest.fixture
async def coded(db_url: str) -> AsyncIterator[tuple[SqlConnector, str, sa.Engine]]:
    """Order lines keyed by a text code, with a composite (order, line) unique key."""
    table = f"lines_{uuid.uuid4().hex[:8]}"
    engine = create_engine(SqlSettings(url=db_url))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {table} (code VARCHAR(10) NOT NULL PRIMARY KEY, "
            "crm_id VARCHAR(18) UNIQUE, order_no VARCHAR(10) NOT NULL, line INTEGER NOT NULL, "
            f"name VARCHAR(20), UNIQUE (order_no, line))"
        )
        conn.exec_driver_sql(
            f"INSERT INTO {table} (code, crm_id, order_no, line, name) VALUES "
            "('A1', 'X1', 'O1', 1, 'a'), ('A2', NULL, 'O1', 2, 'b'), ('A3', NULL, 'O2', 1, 'c')"
        )
    connector = SqlConnector(SqlSettings(url=db_url, capture="modified_column"))
    await connector.open()
    try:
        yield connector, table, engine
    finally:
        await connector.close()
        engine.dispose()


def _rows(engine: sa.Engine, table: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        stmt = f"SELECT code, crm_id, order_no, name FROM {table} ORDER BY code"
        return [tuple(r) for r in conn.exec_driver_sql(stmt)]


def _by_code(table: str) -> EntityBinding:
    return EntityBinding(
        name="line", source=table, key="code", fields=("code", "name"), external_id="crm_id"
    )


async def test_an_update_that_changes_the_key_answers_with_the_new_key(
    coded: tuple[SqlConnector, str, sa.Engine],
) -> None:
    connector, table, engine = coded
    op = WriteOp(action="update", ref="X1", key="A1", values={"code": "B1", "name": "z"})
    (out,) = await connector.write_batch(_by_code(table), [op])
    assert out.ok and out.key == "B1"
    assert ("B1", "X1", "O1", "z") in _rows(engine, table)
    (again,) = (await connector.read_records(_by_code(table), [out.key])).values()
    assert again.key == "B1"


async def test_an_upsert_that_changes_the_key_answers_with_the_new_key(
    coded: tuple[SqlConnector, str, sa.Engine],
) -> None:
    connector, table, engine = coded
    op = WriteOp(action="upsert", ref="X1", match="X1", values={"code": "C1"})
    (out,) = await connector.write_batch(_by_code(table), [op])
    assert out.ok and out.key == "C1" and not out.created
    assert ("C1", "X1", "O1", "a") in _rows(engine, table)


async def test_a_write_by_a_key_that_names_several_rows_is_refused(
    coded: tuple[SqlConnector, str, sa.Engine],
) -> None:
    connector, table, engine = coded
    before = _rows(engine, table)
    binding = EntityBinding(
        name="order", source=table, key="order_no", fields=("name",), external_id="crm_id"
    )
    outcomes = await connector.write_batch(
        binding,
        [
            WriteOp(action="update", ref="u", key="O1", values={"name": "same"}),
            WriteOp(action="delete", ref="d", key="O1"),
            WriteOp(action="update", ref="one", key="O2", values={"name": "only"}),
        ],
    )
    assert [o.ok for o in outcomes] == [False, False, True]
    for refused in outcomes[:2]:
        assert refused.error is not None and refused.error.code == "KEY_NOT_UNIQUE"
        assert refused.error.field == "order_no" and refused.error.value == "O1"
    assert _rows(engine, table) == [*before[:2], ("A3", None, "O2", "only")]
