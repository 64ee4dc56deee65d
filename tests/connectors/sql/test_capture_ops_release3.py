"""Capture release 3 (PostgreSQL's ``BEFORE TRUNCATE`` trigger): an install of release 2 is
told to run ``install-capture`` again, which records release 3 and puts the trigger in place."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlerp import Erp, changes_after, customer, new_erp
from test_capture_release import _advice, _release

from tandem.connectors.sql import SqlConnector
from tandem.connectors.sql.capture import CAPTURE_RELEASE
from tandem.connectors.sql.capture.common import _trigger_name
from tandem.connectors.sql.capture.postgres import TRUNCATE


def _as_release_2(erp: Erp) -> None:
    """Leave the installed capture as release 2 left it: its mark, and on PostgreSQL no
    truncate trigger nor function."""
    with erp.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {erp.changelog}_release SET release_no = 2")
        if erp.dialect == "postgresql":
            for table in (erp.customers.name, erp.contacts.name):
                name = _trigger_name(erp.changelog, table, TRUNCATE)
                conn.exec_driver_sql(f'DROP TRIGGER "{name}" ON "{table}"')
            conn.exec_driver_sql(f'DROP FUNCTION "{erp.changelog}_truncated"()')


async def test_an_install_of_release_2_is_asked_to_install_again(erp: Erp) -> None:
    assert CAPTURE_RELEASE >= 3
    erp.install()
    _as_release_2(erp)
    assert _release(erp) == 2

    (advice,) = await _advice(erp)
    assert f"{erp.changelog}: the change capture was installed by an earlier release" in advice
    assert f"capture release 2; this one installs {CAPTURE_RELEASE}" in advice
    assert "tandem erp install-capture" in advice
    assert "on PostgreSQL a TRUNCATE of a captured table is not logged" in advice
    assert "without a key" not in advice  # what release 2 brought, this install has

    erp.install()
    assert _release(erp) == CAPTURE_RELEASE
    assert await _advice(erp) == []


async def test_release_1_is_told_what_releases_2_and_3_bring(erp: Erp) -> None:
    erp.install()
    with erp.engine.begin() as conn:  # as the release before the mark left it
        conn.exec_driver_sql(f"DROP TABLE {erp.changelog}_release")
    (advice,) = await _advice(erp)
    assert f"capture release 1; this one installs {CAPTURE_RELEASE}" in advice
    assert "without a key" in advice
    assert "on PostgreSQL a TRUNCATE of a captured table is not logged" in advice


@pytest.mark.postgres
async def test_pg_release_2_install_again_logs_a_truncate_as_deletes(pg_url: str) -> None:
    erp = new_erp(pg_url)
    try:
        a, b = erp.insert(customer("Alfa"), customer("Beta"))
        erp.install()
        _as_release_2(erp)
        (advice,) = await _advice(erp)
        assert f"capture release 2; this one installs {CAPTURE_RELEASE}" in advice

        erp.install()
        assert await _advice(erp) == []
        conn = SqlConnector(erp.settings())
        await conn.open()
        try:
            seeded = await changes_after(conn, erp.binding(), None)
            since = max(c.cursor for c in seeded)
            erp.execute(sa.text(f'TRUNCATE "{erp.customers.name}" CASCADE'))
            gone = await changes_after(conn, erp.binding(), since)
        finally:
            await conn.close()
        assert sorted((c.key, c.deleted) for c in gone) == [(str(a), True), (str(b), True)]
    finally:
        erp.engine.dispose()
