"""``tandem plan`` writes nothing anywhere: not the ERP, not the CRM, not the state store.

A plan over pending edits on both sides, a queued retry and a schema change leaves every
table of the ERP and of the state store as it was, and every CRM record unmodified; the
schema change is still reported by the ``sync`` after it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tandem_env import Env
from typer.testing import CliRunner

from tandem.cli import app

OBJECTS = ("Account", "Contact", "Product_Category__c", "Product2", "PricebookEntry")


def tandem(*args: str) -> tuple[int, str]:
    """Run ``tandem ARGS...`` as a user types it: its exit code and output."""
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))
    return result.exit_code, result.output


def tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a SQLite file."""
    conn = sqlite3.connect(path)
    try:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"'), key=repr) for n in names}
    finally:
        conn.close()


def crm_stamps(env: Env) -> dict[str, list[tuple[object, object]]]:
    return {
        name: sorted(
            (r["Id"], r["SystemModstamp"])
            for r in env.crm_rows(f"SELECT Id, SystemModstamp FROM {name}", deleted=True)
        )
        for name in OBJECTS
    }


def test_plan_writes_nothing_and_leaves_schema_drift_to_the_sync(env: Env) -> None:
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    (account,) = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'")
    env.erp("UPDATE customers SET phone = '+48 111 222 333' WHERE id = 2")
    env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 999 888 777"})
    env.erp("UPDATE customers SET name = 'Renamed in the ERP' WHERE id = 3")
    env.crm.org.create("Account", {"Name": "New in the CRM"})
    env.erp("DELETE FROM contacts WHERE id = 1")
    env.erp("ALTER TABLE customers ADD COLUMN fax VARCHAR(40)")
    assert tandem("deadletters", "retry", "1", "-c", config)[0] == 0
    state = env.folder / "state.db"
    erp = env.folder / "erp.db"
    before = tables(erp), tables(state), crm_stamps(env)

    code, out = tandem("plan", "-c", config)
    assert code == 0, out
    assert "create" in out and "update" in out  # it did plan the writes

    after = tables(erp), tables(state), crm_stamps(env)
    assert after[0] == before[0], "the ERP was written"
    assert after[2] == before[2], "the CRM was written"
    changed = [n for n in before[1] if after[1][n] != before[1][n]]
    assert changed == [], f"the state store was written: {changed}"

    code, out = tandem("sync", "-c", config, "--no-progress")
    assert code == 0, out
    assert "field fax was added" in out  # the plan did not take it as seen
