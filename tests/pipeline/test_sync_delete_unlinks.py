"""A delete synced under the ``delete`` policy drops the record's link: `tandem status` stops
counting it; a survivor of ``archive``/``flag`` keeps its link. A record created again under a
deleted key is synced as new, and reconcile finds both systems agreeing."""

from __future__ import annotations

from tandem_env import Env

from tandem.pipeline.reconcile import reconcile
from tandem.pipeline.runtime import running_engine


async def test_a_deleted_contact_loses_its_link_and_comes_back_when_created_again(
    env: Env,
) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        store = engine.store
        await engine.sync()
        before = store.stats(flow.name)["links"]
        baseline = (await reconcile(engine, entities=["contact"])).entities["contact"]
        row = dict(env.erp_rows("SELECT * FROM contacts WHERE id = 6")[0]._mapping)
        old_crm = store.partner("contact", "erp", "6")
        assert old_crm is not None
        in_crm = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '5'")[0]
        env.erp("DELETE FROM contacts WHERE id = 6")  # policy delete, from the ERP
        env.crm.org.delete("Contact", str(in_crm["Id"]))  # and from the CRM

        deleted = await engine.sync()
        echoes = await engine.sync()
        after = store.stats(flow.name)["links"]
        assert deleted.total("deleted") == 2 and echoes.writes == 0
        assert after["contact"] == before["contact"] - 2
        assert store.partners("contact", "erp", ["5", "6"]) == {}
        tombstone = store.synced("contact", "erp", ["6"])["6"]
        assert (tombstone.crm_key, tombstone.deleted) == (old_crm, True)
        compared = (await reconcile(engine, entities=["contact"])).entities["contact"]
        assert (compared.archived, compared.drift) == (0, baseline.drift)

        # the same contact created again in the ERP, with the same key and values
        env.erp(
            "INSERT INTO contacts (id, customer_id, first_name, last_name, email, phone, title)"
            " VALUES (:id, :customer_id, :first_name, :last_name, :email, :phone, :title)",
            **{k: v for k, v in row.items() if k != "crm_id"},
        )
        # before the next pass: a record to create, not the survivor of a delete
        pending = await reconcile(engine, entities=["contact"])
        assert pending.entities["contact"].archived == 0
        assert [(d.kind, d.erp_key) for d in pending.drifts if d.erp_key == "6"] == [
            ("missing_in_crm", "6")
        ]
        back = await engine.sync()
        settled = await engine.sync()
        assert back.total("created") == 1 and settled.writes == 0
        new_crm = store.partner("contact", "erp", "6")
        assert new_crm is not None and new_crm != old_crm
        assert store.stats(flow.name)["links"]["contact"] == before["contact"] - 1
        final = (await reconcile(engine, entities=["contact"])).entities["contact"]
    created = env.crm_rows("SELECT Id, LastName, Email FROM Contact WHERE ERP_Id__c = '6'")
    assert [(c["Id"], c["LastName"], c["Email"]) for c in created] == [
        (new_crm, row["last_name"], row["email"])
    ]
    assert env.erp_rows("SELECT crm_id FROM contacts WHERE id = 6")[0][0] == new_crm
    # contact 5 is gone from both; 6 is back in both; the demo's drift is all there is
    assert (final.in_sync, final.archived) == (baseline.in_sync - 1, 0)
    assert final.drift == baseline.drift


async def test_an_archived_survivor_keeps_its_link(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        store = engine.store
        await engine.sync()
        before = store.stats(flow.name)["links"]["customer"]
        account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '4'")[0]
        env.crm.org.delete("Account", str(account["Id"]))  # customers: policy archive
        deleted = await engine.sync(entities=["customer"])
        assert deleted.total("deleted") == 1
        assert store.partner("customer", "erp", "4") == account["Id"]
        assert store.stats(flow.name)["links"]["customer"] == before
