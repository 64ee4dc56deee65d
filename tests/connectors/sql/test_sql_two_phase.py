"""PostgreSQL's two-phase commit: the change capture must not make an ERP transaction fail.

PostgreSQL refuses to ``PREPARE TRANSACTION`` a transaction that has sent NOTIFY, and the
capture triggers signal the engine with NOTIFY on every write. So on a server that allows
prepared transactions (``max_prepared_transactions`` > 0, as XA transaction managers need)
``install-capture`` installs triggers that do not signal, and the connector polls the change
log instead of listening; ``notify`` in the settings decides either way.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlerp import Erp, customer
from test_sql_wait import LONG, _wait_while_another_session_writes

from tandem.connectors.sql import SqlConnector
from tandem.connectors.sql.capture import notifies

SHARED = pytest.param("postgresql", marks=pytest.mark.postgres)
TWO_PHASE = pytest.param("postgresql_2pc", marks=pytest.mark.postgres)


def _prepare_a_write(erp: Erp, gid: str) -> None:
    """An ERP transaction that writes a captured table, prepared for two-phase commit."""
    with erp.engine.connect() as conn:
        conn.execute(sa.insert(erp.customers).values(customer("Prepared")))
        conn.exec_driver_sql(f"PREPARE TRANSACTION '{gid}'")
        conn.commit()


def _finish(erp: Erp, statement: str) -> None:
    with erp.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(statement)


def _notifies(erp: Erp) -> bool:
    with erp.engine.connect() as conn:
        return notifies(conn, erp.changelog, None)


@pytest.mark.parametrize("db_url", [TWO_PHASE], indirect=True)
async def test_on_a_server_with_two_phase_commit_a_prepared_write_goes_through(
    erp: Erp,
) -> None:
    erp.install()
    assert not _notifies(erp)
    gid = f"t_{erp.changelog}"
    _prepare_a_write(erp, gid)
    _finish(erp, f"COMMIT PREPARED '{gid}'")
    with erp.engine.connect() as conn:
        logged = conn.exec_driver_sql(f"SELECT op FROM {erp.changelog}").scalars().all()
    assert logged == ["I"]

    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        assert conn.listening is False  # no signal to listen for: the change log is polled
        assert await conn.advice() == []
        assert await _wait_while_another_session_writes(erp, conn) is True
    finally:
        await conn.close()


@pytest.mark.parametrize("db_url", [TWO_PHASE], indirect=True)
async def test_triggers_that_notify_on_such_a_server_are_named_by_check(erp: Erp) -> None:
    """Installed by an earlier release (or with notify: true): a prepared write is refused,
    which ``tandem check`` names, with what to do."""
    erp.install(notify=True)
    assert _notifies(erp)
    with pytest.raises(sa.exc.NotSupportedError, match="cannot PREPARE a transaction"):
        _prepare_a_write(erp, f"t_{erp.changelog}")
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        assert conn.listening is True
        (advice,) = await conn.advice()
        assert "allows prepared transactions" in advice and "install-capture" in advice
    finally:
        await conn.close()
    erp.install()  # installed again: the triggers no longer signal
    assert not _notifies(erp)


@pytest.mark.parametrize("db_url", [SHARED], indirect=True)
async def test_a_server_without_two_phase_commit_keeps_notify_unless_told(erp: Erp) -> None:
    erp.install()
    assert _notifies(erp)
    erp.install(notify=False)
    assert not _notifies(erp)
    conn = SqlConnector(erp.settings(notify=False))
    await conn.open()
    try:
        assert conn.listening is False
        assert await conn.wait_for_change(0.2) is False
        erp.insert(customer("Polled"))
        assert await conn.wait_for_change(LONG) is True
    finally:
        await conn.close()
