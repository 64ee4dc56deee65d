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
from tandem_env import Env, build_env

from tandem.demo.flow import CRM_SCHEMA
from tandem.pipeline.reconcile import reconcile
from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine

COLUMN = {"mariadb": "DATETIME", "postgresql": "timestamp(0)", "sqlite": "DATETIME"}
"""The ERP column as each database declares it by default or as older schemas do."""
FIELD = "      - {field: x_last_contact, erp: last_contact_at, crm: Last_Contact__c, owner: both}\n"
MILLIS = "2026-03-01T10:00:00.750Z"


def _build(folder: Path, erp_url: str, kind: str) -> Iterator[Env]:
    def add_column(url: str) -> None:
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f"ALTER TABLE customers ADD last_contact_at {COLUMN[kind]}"))
        finally:
            engine.dispose()

    def add_field(text: str) -> str:
        anchor = "      - {field: credit_hold, erp: credit_hold, crm: Credit_Hold__c}\n"
        assert anchor in text
        return text.replace(anchor, anchor + FIELD, 1)

    extra = "      Last_Contact__c: {type: datetime, label: Last Contact}\n"
    anchor = "      Credit_Hold__c: {type: boolean, default: false, label: Credit Hold}\n"
    yield from build_env(
        folder,
        erp_url,
        customers=3,
        shape_erp=add_column,
        crm_schema=CRM_SCHEMA.replace(anchor, anchor + extra),
        shape_flow=add_field,
    )


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
