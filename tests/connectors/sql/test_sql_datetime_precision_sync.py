"""End to end: a CRM datetime with milliseconds against an ERP column that keeps whole seconds.

MariaDB's ``DATETIME`` (its default precision, 0) and PostgreSQL's ``timestamp(0)`` drop the
CRM value's milliseconds. The two systems' values are agreed at the precision both keep: the
next ERP read is no change, nothing goes back to the CRM, and the CRM keeps its milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from tandem_env import Env

from tandem.connectors.sql.capture import install_capture
from tandem.demo.erp import TABLES, create_sample_erp
from tandem.demo.flow import CRM_SCHEMA, write_flow
from tandem.pipeline.reconcile import reconcile
from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine
from tandem.sandbox.salesforce.server import running_sandbox

COLUMN = {"mariadb": "DATETIME", "postgresql": "timestamp(0)", "sqlite": "DATETIME"}
"""The ERP column as each database declares it by default or as older schemas do."""
FIELD = "      - {field: x_last_contact, erp: last_contact_at, crm: Last_Contact__c, owner: both}\n"
MILLIS = "2026-03-01T10:00:00.750Z"


def _build(folder: Path, erp_url: str, kind: str) -> Iterator[Env]:
    create_sample_erp(erp_url, customers=3)
    engine = sa.create_engine(erp_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"ALTER TABLE customers ADD last_contact_at {COLUMN[kind]}"))
    finally:
        engine.dispose()
    install_capture(erp_url, list(TABLES))
    schema = folder / "crm_schema.yaml"
    extra = "      Last_Contact__c: {type: datetime, label: Last Contact}\n"
    anchor = "      Credit_Hold__c: {type: boolean, default: false, label: Credit Hold}\n"
    schema.write_text(CRM_SCHEMA.replace(anchor, anchor + extra), encoding="utf-8")
    with running_sandbox(folder / "crm", schema_files=[schema]) as crm:
        config = write_flow(
            folder,
            erp_url=erp_url,
            state_db=folder / "state.db",
            base_url=crm.base_url,
            ca_file=Path(crm.ca_file),
            username=crm.username,
            client_id=crm.client_id,
            password=crm.password,
            client_secret=crm.client_secret,
        )
        text = config.read_text(encoding="utf-8")
        anchor = "      - {field: credit_hold, erp: credit_hold, crm: Credit_Hold__c}\n"
        assert anchor in text
        config.write_text(text.replace(anchor, anchor + FIELD, 1), encoding="utf-8")
        yield Env(folder, erp_url, crm, config)


@pytest.fixture(params=["mariadb", "postgresql", "sqlite"])
def dated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Env]]:
    """The demo flow with a datetime both systems edit, the ERP on each database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.db'}"
    else:
        fresh = "pg_fresh_url" if request.param == "postgresql" else "mariadb_fresh_url"
        url = request.getfixturevalue(fresh)
    for env in _build(tmp_path, url, request.param):
        yield request.param, env


def _written(report: PassReport) -> dict[str, int]:
    return {
        f"{entity} {direction} {counter}": n
        for entity, per in report.counts.items()
        for direction, counts in per.items()
        for counter, n in counts.items()
        if counter in ("created", "updated", "deleted", "reverted") and n
    }


async def test_crm_milliseconds_survive_an_erp_column_of_whole_seconds(
    dated: tuple[str, Env],
) -> None:
    kind, env = dated
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        (account,) = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '1'")
        env.crm.org.update("Account", str(account["Id"]), {"Last_Contact__c": MILLIS})
        edited = await engine.sync()  # the CRM's edit goes to the ERP
        passes = [await engine.sync() for _ in range(3)]  # the ERP's echo, then quiet
        compared = await reconcile(engine)

    (row,) = env.erp_rows("SELECT last_contact_at FROM customers WHERE id = 1")
    stored = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
    expected = datetime(2026, 3, 1, 10, 0, 0, 750000 if kind == "sqlite" else 0)
    assert stored.replace(tzinfo=None) == expected
    (crm,) = env.crm_rows("SELECT Last_Contact__c FROM Account WHERE ERP_Id__c = '1'")
    assert str(crm["Last_Contact__c"]).startswith("2026-03-01T10:00:00.750")  # kept
    assert _written(edited) == {"customer crm->erp updated": 1}
    assert [_written(p) for p in passes] == [{}, {}, {}]  # no write back to the CRM
    assert compared.differences == 0
