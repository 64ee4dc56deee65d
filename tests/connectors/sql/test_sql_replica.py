"""Property: a replica fed only by read_changes, read in arbitrary batch sizes between
arbitrary writes, always ends equal to the table (nothing lost, nothing stale)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.connectors.base import Cursor, EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, install_capture
from tandem.connectors.sql.settings import create_engine

STEP = st.one_of(
    st.tuples(st.just("insert"), st.integers(1, 3)),
    st.tuples(st.just("update"), st.integers(0, 50)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("read"), st.integers(1, 4)),
)


async def _run(url: str, steps: list[tuple[str, int]]) -> None:
    name = f"t_{uuid.uuid4().hex[:8]}"
    engine = create_engine(SqlSettings(url=url))
    table = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("v", sa.Integer, nullable=False),
    )
    table.create(engine)
    install_capture(engine, [(name, "id")])
    binding = EntityBinding(name="row", source=name, key="id", fields=("v",))
    conn = SqlConnector(SqlSettings(url=url))
    await conn.open()
    replica: dict[str, Any] = {}
    cursor: Cursor | None = None

    async def read(size: int) -> None:
        nonlocal cursor
        async for batch in conn.read_changes(binding, cursor, size):
            for change in batch:
                assert cursor is None or change.cursor > cursor
                cursor = change.cursor
                if change.deleted:
                    replica.pop(change.key, None)
                else:
                    replica[change.key] = change.fields["v"]

    try:
        counter = 0
        for action, arg in steps:
            with engine.begin() as db:
                ids = [r[0] for r in db.execute(sa.select(table.c.id).order_by(table.c.id))]
                if action == "insert":
                    db.execute(sa.insert(table), [{"v": counter + i} for i in range(arg)])
                elif action == "update" and ids:
                    db.execute(
                        sa.update(table).where(table.c.id == ids[arg % len(ids)]).values(v=-counter)
                    )
                elif action == "delete" and ids:
                    db.execute(sa.delete(table).where(table.c.id == ids[arg % len(ids)]))
            if action == "read":
                await read(arg)
            counter += 10
        await read(3)
        with engine.connect() as db:
            truth = {str(k): v for k, v in db.execute(sa.select(table.c.id, table.c.v))}
        assert replica == truth
    finally:
        await conn.close()
        engine.dispose()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(STEP, max_size=25))
def test_replica_from_changes_equals_the_table(
    tmp_path: Path, steps: list[tuple[str, int]]
) -> None:
    asyncio.run(_run(f"sqlite:///{tmp_path}/replica.db", steps))
