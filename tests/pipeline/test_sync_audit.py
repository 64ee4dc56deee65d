"""The audit log names what each write replaced: delete-policy flags and conflict resolutions."""

from __future__ import annotations

from tandem_env import Env

from tandem.pipeline.resolve import apply_resolution
from tandem.pipeline.runtime import running_engine


async def test_a_flagged_delete_is_audited_as_a_flag_with_the_field_set(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '4'")[0]
        env.crm.org.delete("Account", str(account["Id"]))
        contact = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '5'")[0]
        env.crm.org.delete("Contact", str(contact["Id"]))
        await engine.sync()
        customers = engine.store.audit_log(flow=flow.name, entity="customer", record_key="4")
        contacts = engine.store.audit_log(flow=flow.name, entity="contact", record_key="5")
    # customer: archive = the ERP's flag field `active` set to false, the record kept
    flagged = next(e for e in customers if e.target == "erp" and e.action == "flag")
    assert flagged.after == {"active": False}
    assert flagged.before is not None and flagged.before["name"]
    assert flagged.cause.startswith(f"crm:customer:{account['Id']}@")
    assert not any(e.action == "delete" for e in customers if e.target == "erp")
    # contact: a real delete stays a delete, with nothing written
    deleted = next(e for e in contacts if e.target == "erp" and e.action == "delete")
    assert deleted.after is None and deleted.before is not None


async def test_a_resolution_is_audited_with_the_value_each_system_held(env: Env) -> None:
    flow = env.flow(**{"conflict: newest_wins": "conflict: manual"})
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET phone = '+48 111 000 000' WHERE id = 8")
        account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '8'")[0]
        crm_key = str(account["Id"])
        env.crm.org.update("Account", crm_key, {"Phone": "+48 999 000 000"})
        await engine.sync()
        (conflict,) = engine.store.conflicts(flow=flow.name, status="open")
        await apply_resolution(engine, conflict.id, "crm")
        entries = engine.store.audit_log(flow=flow.name, entity="customer", limit=500)
    resolved = {e.target: e for e in entries if e.action == "resolve"}
    assert set(resolved) == {"erp", "crm"}
    erp, crm = resolved["erp"], resolved["crm"]
    assert (erp.record_key, crm.record_key) == ("8", crm_key)
    assert erp.before == {"phone": "+48 111 000 000"}
    assert crm.before == {"phone": "+48 999 000 000"}
    assert erp.after == crm.after == {"phone": "+48 999 000 000"}
    assert erp.cause == crm.cause == f"conflict:{conflict.id}:crm"
