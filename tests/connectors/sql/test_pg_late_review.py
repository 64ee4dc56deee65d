"""PostgreSQL late commits by writers the change log's snapshots must still follow: savepoints
(subtransactions), REPEATABLE READ and SERIALIZABLE transactions held open across reads."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlerp import Erp, changes_after, customer

from tandem.connectors.base import Change, Cursor
from tandem.connectors.sql import SqlConnector

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


async def _read(conn: SqlConnector, erp: Erp, since: Cursor | None) -> tuple[list[Change], Cursor]:
    changes = await changes_after(conn, erp.binding(), since)
    cursor = max((c.cursor for c in changes), default=since)
    assert cursor is not None
    return changes, cursor


def _open_writer(erp: Erp, how: str, key: int) -> sa.Connection:
    conn = erp.engine.connect()
    if how in ("REPEATABLE READ", "SERIALIZABLE"):
        conn.exec_driver_sql(f"SET TRANSACTION ISOLATION LEVEL {how}")
    rename = sa.update(erp.customers).where(erp.customers.c.id == key)
    if how == "savepoints":
        undone = conn.begin_nested()
        conn.execute(rename.values(name="Undone"))
        undone.rollback()
        kept = conn.begin_nested()
        conn.execute(rename.values(name="Late"))
        kept.commit()
    else:
        conn.execute(rename.values(name="Late"))
    return conn


@pytest.mark.parametrize("how", ["savepoints", "REPEATABLE READ", "SERIALIZABLE"])
async def test_pg_a_held_writer_of_any_kind_arrives_after_later_reads(erp: Erp, how: str) -> None:
    a, b = erp.insert(customer("Alfa"), customer("Beta"))
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    writer = None
    try:
        _, start = await _read(conn, erp, None)
        writer = _open_writer(erp, how, a)
        erp.execute(sa.update(erp.customers).where(erp.customers.c.id == b).values(name="B2"))
        first, cursor = await _read(conn, erp, start)
        assert [c.key for c in first if c.cursor > start] == [str(b)]
        writer.commit()
        late, _ = await _read(conn, erp, cursor)
    finally:
        if writer is not None:
            writer.close()
        await conn.close()
    assert [(c.key, c.fields["name"]) for c in late] == [(str(a), "Late")]
