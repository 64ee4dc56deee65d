"""``reconcile --heal`` against a real ERP database and the HTTPS Salesforce sandbox: a repair
that an ERP trigger rewrites is not counted as repaired."""

from __future__ import annotations

from tandem_env import UPPERCASE_TITLES, Env

from tandem.pipeline.reconcile import reconcile
from tandem.pipeline.runtime import running_engine


async def test_a_repair_an_erp_trigger_rewrites_is_still_drifting(env: Env) -> None:
    env.fix_the_bad_nip()  # the systems start out fully agreed
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        assert (await reconcile(engine)).differences == 0
        contact = next(
            c
            for c in env.crm_rows("SELECT Id, Title, ERP_Id__c FROM Contact ORDER BY ERP_Id__c")
            if str(c["Title"]) != str(c["Title"]).upper()
        )
        product = env.crm_rows("SELECT Id, Name FROM Product2 WHERE ERP_Id__c = '3'")[0]
        # Drift on both sides: the contact's title in the ERP (the CRM owns contacts), the
        # product's name in the CRM (the ERP owns products).
        env.erp("UPDATE contacts SET title = 'Edited' WHERE id = :id", id=contact["ERP_Id__c"])
        env.crm.org.update("Product2", str(product["Id"]), {"Name": "Edited behind our back"})
        env.erp(UPPERCASE_TITLES)  # from now on the ERP keeps every title in capitals
        found = await reconcile(engine)
        assert found.differences == 2

        report = await reconcile(engine, heal=True)
        # nothing refused it, nothing holds it: only a fresh read tells it is not repaired
        assert engine.store.dead_letters(flow=engine.flow.name, status="open") == []
        assert engine.store.conflicts(flow=engine.flow.name, status="open") == []
        after = await reconcile(engine)

    assert report.healed == 2 and report.repair is not None
    assert report.repair.total("dead_lettered") == 0
    # The product is repaired; the contact's title was written and rewritten by the trigger.
    name = env.crm_rows("SELECT Name FROM Product2 WHERE ERP_Id__c = '3'")[0]["Name"]
    assert name == product["Name"]
    (row,) = env.erp_rows("SELECT title FROM contacts WHERE id = :id", id=contact["ERP_Id__c"])
    assert str(row[0]) == str(contact["Title"]).upper()
    assert report.unrepaired == 1
    (left,) = report.still_drifting
    assert (left.entity, left.kind) == ("contact", "differs")
    assert (left.erp_key, left.crm_key) == (str(contact["ERP_Id__c"]), contact["Id"])
    assert left.fields == {"title": (str(contact["Title"]).upper(), contact["Title"])}
    assert after.differences == 1
    assert [(d.entity, d.erp_key, d.fields) for d in after.drifts] == [
        ("contact", left.erp_key, left.fields)
    ]
