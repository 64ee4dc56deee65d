"""A record refused by a deferred constraint is refused alone, not the whole batch.

A ``DEFERRABLE INITIALLY DEFERRED`` foreign key or unique constraint (PostgreSQL, SQLite's
deferred foreign keys) is checked at COMMIT, after every op's savepoint was released: before
the fix the commit's refusal failed the whole batch as ``Fatal`` (every record of it, every
pass), and nothing of it was written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tandem.connectors.base import EntityBinding, WriteOp, WriteOutcome
from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine

# MariaDB checks every constraint at once (nothing to defer); only PostgreSQL defers a
# unique constraint.
DEFERRING = pytest.mark.parametrize(
    "db_url", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
POSTGRESQL = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def deferred(db_url: str) -> Iterator[tuple[str, str, sa.Engine]]:
    """A child table whose foreign key and unique column are checked at commit (SQLite: its
    foreign key only); the URL, the child's name and an engine to look with."""
    suffix = uuid.uuid4().hex[:8]
    engine = create_engine(SqlSettings(url=db_url))
    later = "DEFERRABLE INITIALLY DEFERRED"
    auto = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    unique = f"UNIQUE {later}" if engine.dialect.name == "postgresql" else "UNIQUE"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE parent_{suffix} (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql(f"INSERT INTO parent_{suffix} (id) VALUES (1)")
        conn.exec_driver_sql(
            f"CREATE TABLE child_{suffix} (id {auto} PRIMARY KEY, crm_id VARCHAR(18) UNIQUE, "
            f"parent_id INTEGER REFERENCES parent_{suffix} (id) {later}, code VARCHAR(8) {unique})"
        )
    try:
        yield db_url, f"child_{suffix}", engine
    finally:
        engine.dispose()


def _upsert(ref: str, **values: object) -> WriteOp:
    return WriteOp(action="upsert", ref=ref, values=values, match=ref)


async def _write(url: str, table: str, ops: list[WriteOp]) -> dict[str, WriteOutcome]:
    connector = SqlConnector(SqlSettings(url=url))
    await connector.open()
    try:
        binding = EntityBinding(
            name="child", source=table, key="id", fields=("parent_id", "code"), external_id="crm_id"
        )
        return {o.ref: o for o in await connector.write_batch(binding, ops)}
    finally:
        await connector.close()


def _held(engine: sa.Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        child = sa.table(table, sa.column("crm_id"))
        return list(conn.execute(sa.select(child.c.crm_id).order_by(child.c.crm_id)).scalars())


@DEFERRING
async def test_a_deferred_foreign_key_refuses_its_record_alone(
    deferred: tuple[str, str, sa.Engine],
) -> None:
    url, table, engine = deferred
    ops = [_upsert("A", parent_id=1), _upsert("B", parent_id=99), _upsert("C", parent_id=1)]
    outcomes = await _write(url, table, ops)
    assert [outcomes[r].ok for r in "ABC"] == [True, False, True]
    error = outcomes["B"].error
    assert error is not None and error.record == "B"
    assert (error.field, error.value) == ("parent_id", 99)
    assert _held(engine, table) == ["A", "C"]


@POSTGRESQL
async def test_a_deferred_unique_constraint_refuses_its_record_alone(
    deferred: tuple[str, str, sa.Engine],
) -> None:
    url, table, engine = deferred
    ops = [_upsert("A", code="X"), _upsert("B", code="X"), _upsert("C", code="Y")]
    outcomes = await _write(url, table, ops)
    assert [outcomes[r].ok for r in "ABC"] == [True, False, True]
    error = outcomes["B"].error
    assert error is not None and (error.field, error.value) == ("code", "X")
    assert _held(engine, table) == ["A", "C"]


@POSTGRESQL
async def test_a_batch_that_needs_its_deferral_still_commits_whole(
    deferred: tuple[str, str, sa.Engine],
) -> None:
    """Two records that swap a deferred unique value are written together, as before."""
    url, table, engine = deferred
    await _write(url, table, [_upsert("A", code="X"), _upsert("B", code="Y")])
    outcomes = await _write(url, table, [_upsert("A", code="Y"), _upsert("B", code="X")])
    assert all(o.ok for o in outcomes.values())
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT crm_id, code FROM {table} ORDER BY crm_id").all()
    assert [tuple(r) for r in rows] == [("A", "Y"), ("B", "X")]
