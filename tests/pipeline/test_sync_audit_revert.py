"""The audit entry of a revert names the fields by their canonical names on both sides, as
every other entry does, with the values the source had and the ones written back."""

from __future__ import annotations

import asyncio

from tandem_env import Env

from tandem.pipeline.runtime import running_engine


async def test_a_revert_of_an_erp_owned_field_is_audited_in_canonical_names(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        account = env.crm_rows("SELECT Id, AccountNumber FROM Account WHERE ERP_Id__c = '6'")[0]
        env.crm.org.update("Account", str(account["Id"]), {"AccountNumber": "CRMX6"})
        report = await engine.sync()
        entries = engine.store.audit_log(
            flow=flow.name, entity="customer", record_key=str(account["Id"])
        )
    assert report.total("reverted") == 1
    reverts = [e for e in entries if e.action == "revert"]
    assert [(e.target, e.before, e.after) for e in reverts] == [
        ("crm", {"number": "CRMX6"}, {"number": account["AccountNumber"]})
    ]
    now = env.crm_rows(f"SELECT AccountNumber FROM Account WHERE Id = '{account['Id']}'")[0]
    assert now["AccountNumber"] == account["AccountNumber"]


async def test_an_edit_a_write_replaces_is_the_audits_before(env: Env) -> None:
    """Phone is both systems' (newest wins): the CRM's own edit, older than the ERP's, is
    overwritten, and the audit keeps what the CRM held, not the value agreed before."""
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        account = env.crm_rows("SELECT Id, Phone FROM Account WHERE ERP_Id__c = '7'")[0]
        env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 111 111 111"})
        await asyncio.sleep(1.1)
        env.erp("UPDATE customers SET phone = '+48 222 222 222' WHERE id = 7")
        await engine.sync()
        entries = engine.store.audit_log(
            flow=flow.name, entity="customer", record_key=str(account["Id"])
        )
    (update,) = [e for e in entries if e.action == "update" and e.target == "crm"][:1]
    assert update.before == {"phone": "+48 111 111 111"}
    assert update.after is not None and update.after["phone"] == "+48 222 222 222"
    now = env.crm_rows(f"SELECT Phone FROM Account WHERE Id = '{account['Id']}'")[0]
    assert now["Phone"] == "+48 222 222 222"
