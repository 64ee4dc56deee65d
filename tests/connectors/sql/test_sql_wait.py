"""wait_for_change: LISTEN/NOTIFY on PostgreSQL, change-log polling elsewhere."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlerp import Erp, customer

from tandem.connectors.sql import SqlConnector

LONG = 60.0


async def _wait_while_another_session_writes(erp: Erp, connector: SqlConnector) -> bool:
    """Start a long wait, write from a separate engine, return what the wait answered.

    Asserts the wait ended because of the write: the deadline event, set only when the
    long timeout elapses, must still be clear.
    """
    deadline = asyncio.Event()
    loop = asyncio.get_running_loop()
    timer = loop.call_later(LONG, deadline.set)
    waiting = asyncio.create_task(connector.wait_for_change(LONG))
    await asyncio.sleep(0.1)  # let the waiter block first
    other = sa.create_engine(erp.url)
    try:
        with other.begin() as conn:
            conn.execute(sa.insert(erp.customers).values(customer("Wake")))
    finally:
        other.dispose()
    woke = await waiting
    timer.cancel()
    assert not deadline.is_set()
    return woke


async def test_a_write_from_another_session_wakes_the_waiter(
    erp: Erp, connector: SqlConnector
) -> None:
    assert connector.listening is (erp.dialect == "postgresql")
    assert await _wait_while_another_session_writes(erp, connector) is True


async def test_no_change_means_false_after_the_timeout(erp: Erp, connector: SqlConnector) -> None:
    assert await connector.wait_for_change(0.2) is False


async def test_a_change_between_waits_is_not_missed(erp: Erp, connector: SqlConnector) -> None:
    erp.insert(customer("Between"))  # no one is waiting right now
    assert await connector.wait_for_change(LONG) is True


async def test_modified_column_mode_polls_the_bound_tables(erp: Erp) -> None:
    conn = SqlConnector(erp.settings(capture="modified_column"))
    await conn.open()
    try:
        binding = erp.binding(modified_column="updated_at")
        await conn.read_records(binding, [])  # binds the entity: its column is polled
        assert await conn.wait_for_change(0.1) is False
        erp.insert(customer("Dated", updated_at=sa.func.current_timestamp()))
        assert await conn.wait_for_change(LONG) is True
    finally:
        await conn.close()


async def test_a_cancelled_wait_leaves_the_next_wait_working(
    erp: Erp, connector: SqlConnector
) -> None:
    waiting = asyncio.create_task(connector.wait_for_change(LONG))
    await asyncio.sleep(0.1)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    assert await _wait_while_another_session_writes(erp, connector) is True
