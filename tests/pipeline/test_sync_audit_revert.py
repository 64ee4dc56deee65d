"""The audit entry of a revert names the fields by their canonical names on both sides, as
every other entry does, with the values the source had and the ones written back."""

from __future__ import annotations

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
