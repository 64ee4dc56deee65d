"""PostgreSQL: a TRUNCATE of a captured table is logged as the delete of every row it held."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlerp import Erp, changes_after, customer

from tandem.connectors.sql import SqlConnector, uninstall_capture

pytestmark = pytest.mark.postgres


@pytest.fixture
def db_url(pg_url: str) -> str:
    return pg_url


async def test_pg_truncate_cascade_reads_as_deletes_of_every_row(erp: Erp) -> None:
    a, b = erp.insert(customer("Alfa"), customer("Beta"))
    erp.execute(sa.insert(erp.contacts).values(customer_id=a, first_name="Ann"))
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        seeded = await changes_after(conn, erp.binding(), None)
        contacts = await changes_after(conn, erp.contact_binding(), None)
        since = max(c.cursor for c in seeded)
        contact_since = max(c.cursor for c in contacts)
        erp.execute(sa.text(f'TRUNCATE "{erp.customers.name}" CASCADE'))
        gone = await changes_after(conn, erp.binding(), since)
        gone_contacts = await changes_after(conn, erp.contact_binding(), contact_since)
    finally:
        await conn.close()
    assert sorted((c.key, c.deleted) for c in gone) == [(str(a), True), (str(b), True)]
    assert [c.deleted for c in gone_contacts] == [True]


async def test_pg_uninstall_drops_the_truncate_trigger_too(erp: Erp) -> None:
    erp.install()
    uninstall_capture(erp.engine, [erp.customers.name], changelog_table=erp.changelog)
    with erp.engine.connect() as conn:
        left = conn.execute(
            sa.text(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid = CAST(:t AS regclass)"
            ),
            {"t": erp.customers.name},
        ).all()
    assert left == []
