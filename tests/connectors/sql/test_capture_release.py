"""Which release of the change capture is installed, and ``tandem check`` asking for the
current one: an upgrade of Tandem changes the triggers, which only ``install-capture`` puts in
place in the ERP's database."""

from __future__ import annotations

import sqlalchemy as sa
from sqlerp import Erp

from tandem.connectors.sql import SqlConnector
from tandem.connectors.sql.capture import CAPTURE_RELEASE, capture_release, uninstall_capture


def _release(erp: Erp) -> int:
    with erp.engine.connect() as conn:
        return capture_release(conn, erp.changelog, None)


async def _advice(erp: Erp) -> list[str]:
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        return await conn.advice()
    finally:
        await conn.close()


async def test_check_asks_for_install_capture_after_an_upgrade(erp: Erp) -> None:
    erp.install()
    assert _release(erp) == CAPTURE_RELEASE
    assert await _advice(erp) == []

    with erp.engine.begin() as conn:  # as the release before the mark left it
        conn.exec_driver_sql(f"DROP TABLE {erp.changelog}_release")
    assert _release(erp) == 1
    (advice,) = await _advice(erp)
    assert f"{erp.changelog}: the change capture was installed by an earlier release" in advice
    assert f"capture release 1; this one installs {CAPTURE_RELEASE}" in advice
    assert "tandem erp install-capture" in advice

    erp.install()
    erp.install()  # again: still one mark
    with erp.engine.connect() as conn:
        marks = conn.exec_driver_sql(f"SELECT release_no FROM {erp.changelog}_release").all()
    assert [tuple(m) for m in marks] == [(CAPTURE_RELEASE,)]
    assert await _advice(erp) == []


def test_uninstall_with_the_change_log_drops_the_mark(erp: Erp) -> None:
    erp.install()
    uninstall_capture(
        erp.engine,
        [erp.customers.name, erp.contacts.name],
        changelog_table=erp.changelog,
        drop_changelog=True,
    )
    with erp.engine.connect() as conn:
        assert not sa.inspect(conn).has_table(f"{erp.changelog}_release")
