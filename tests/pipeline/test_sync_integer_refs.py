"""A reference written into an ERP integer column that no foreign key describes.

The cross-reference keeps keys as text; a column the ERP declares as a foreign key is
described as a reference (any key text fits), but a plain integer column (a legacy schema,
MyISAM, a key nobody declared) must be given the key as a number, or every contact the CRM
creates or moves to another account would be refused by the ERP column's type check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from tandem_env import Env, build_env

from tandem.pipeline.runtime import running_engine

CONTACTS = """CREATE TABLE contacts (
  id INTEGER PRIMARY KEY, customer_id INTEGER, first_name VARCHAR(80),
  last_name VARCHAR(80) NOT NULL, email VARCHAR(80), phone VARCHAR(40),
  title VARCHAR(128), crm_id VARCHAR(18) UNIQUE)"""


def _without_foreign_key(url: str) -> None:
    """Drop the declared foreign key of ``contacts.customer_id``: a plain integer column."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("ALTER TABLE contacts RENAME TO contacts_old")
                conn.exec_driver_sql(CONTACTS)
                conn.exec_driver_sql("INSERT INTO contacts SELECT * FROM contacts_old")
                conn.exec_driver_sql("DROP TABLE contacts_old")
                return
            for fk in sa.inspect(conn).get_foreign_keys("contacts"):
                drop = "FOREIGN KEY" if engine.dialect.name == "mysql" else "CONSTRAINT"
                conn.exec_driver_sql(f"ALTER TABLE contacts DROP {drop} {fk['name']}")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def plain_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.db'}"
    else:
        fixture = "pg_fresh_url" if request.param == "postgresql" else "mariadb_fresh_url"
        url = request.getfixturevalue(fixture)
    yield from build_env(tmp_path, url, shape_erp=_without_foreign_key)


async def test_crm_contacts_created_and_moved_reach_a_plain_integer_column(
    plain_env: Env,
) -> None:
    env = plain_env
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        ctx = next(c for c in engine.contexts if c.name == "contact")
        assert ctx.schemas["erp"].fields["customer_id"].type == "integer"  # no FK described
        moved = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '3'")[0]
        first = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '1'")[0]
        env.crm.org.update("Contact", str(moved["Id"]), {"AccountId": first["Id"]})
        second = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'")[0]
        new_id = env.crm.org.create(
            "Contact", {"LastName": "Nowa", "Email": "ola@example.com", "AccountId": second["Id"]}
        )
        report = await engine.sync()
        again = await engine.sync()
        dead = engine.store.dead_letters(flow=flow.name, status="open", entity="contact")
    assert [d.record_key for d in dead if d.side == "crm"] == []
    assert env.erp_rows("SELECT customer_id FROM contacts WHERE id = 3")[0][0] == 1
    created = env.erp_rows("SELECT customer_id FROM contacts WHERE crm_id = :id", id=new_id)
    assert [row[0] for row in created] == [2]
    assert report.total("created") == 1 and again.writes == 0
