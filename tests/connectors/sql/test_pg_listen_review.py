"""PostgreSQL LISTEN/NOTIFY wake-ups when the listening connection is lost or flooded."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from pg_server import Server, restartable_server
from sqlerp import Erp, customer, new_erp

from tandem.connectors.sql import SqlConnector
from tandem.errors import TandemError

pytestmark = pytest.mark.postgres

WAIT = 5.0


@pytest.fixture
def db_url(pg_url: str) -> str:
    """The sql conftest's ``erp`` on PostgreSQL only, the one database that notifies."""
    return pg_url


@pytest.fixture
async def listening(erp: Erp) -> AsyncIterator[SqlConnector]:
    """An open connector over ``erp`` whose triggers NOTIFY, listening."""
    erp.install(notify=True)
    conn = SqlConnector(erp.settings())
    await conn.open()
    assert conn.listening
    try:
        yield conn
    finally:
        await conn.close()


def _terminate_listener(erp: Erp) -> None:
    with erp.engine.begin() as conn:
        ended = conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query = :listen"
            ),
            {"listen": f'LISTEN "{erp.channel}"'},
        ).all()
    assert ended == [(True,)]


async def _woken(connector: SqlConnector, tries: int = 2) -> list[bool]:
    """The answers of up to ``tries`` waits, a failed wait (the engine then polls) skipped;
    stops at the first wait that answers."""
    for _ in range(tries):
        try:
            return [await connector.wait_for_change(WAIT)]
        except TandemError:
            continue
    return []


async def test_pg_a_change_while_the_listener_was_terminated_wakes_a_wait(
    erp: Erp, listening: SqlConnector
) -> None:
    _terminate_listener(erp)
    erp.insert(customer("Unheard"))  # its NOTIFY reaches no one
    assert await _woken(listening) == [True]


async def test_pg_a_change_while_the_listener_reconnects_after_a_restart_wakes_a_wait() -> None:
    with restartable_server() as server:
        erp = new_erp(server.url)
        try:
            erp.install(notify=True)
            connector = SqlConnector(erp.settings())
            await connector.open()
            try:
                _restart(server)
                erp.engine.dispose()  # the pool's connections died with the server
                erp.insert(customer("Restarted"))  # before the listener is back
                assert await _woken(connector) == [True]
            finally:
                await connector.close()
        finally:
            erp.engine.dispose()


def _restart(server: Server) -> None:
    server.stop()
    server.start()


async def test_pg_a_burst_of_notifies_wakes_one_wait_not_thousands(
    erp: Erp, listening: SqlConnector
) -> None:
    with erp.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        for _ in range(10_000):  # each its own transaction: the server merges none
            conn.exec_driver_sql(f"NOTIFY \"{erp.channel}\", 'x'")
    assert await listening.wait_for_change(WAIT) is True
    assert await listening.wait_for_change(0.5) is False  # all 10,000 came before the read


async def test_pg_a_rolled_back_write_wakes_no_one(erp: Erp, listening: SqlConnector) -> None:
    with erp.engine.connect() as conn, conn.begin() as tx:
        conn.execute(sa.insert(erp.customers).values(customer("Undone")))
        tx.rollback()
    assert await listening.wait_for_change(0.5) is False
