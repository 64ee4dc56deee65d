"""An ERP column holding a CRM record's 15-character Salesforce Id (as older integrations and
reports write it) claims that record: it is not created a second time."""

from __future__ import annotations

import random

from tandem_env import Env

from tandem.demo.erp import nip
from tandem.pipeline.reconcile import reconcile
from tandem.pipeline.runtime import running_engine


async def test_a_15_character_crm_id_in_the_erp_claims_its_account(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()  # the initial load: every customer linked
        tax_id = nip(random.Random(99))
        # the trace of a pass (or an older integration) that created the Account and wrote
        # its Id back in the 15-character form, but whose link was never committed
        account = env.crm.org.create("Account", {"Name": "Fifteen Ltd", "Tax_Id__c": tax_id})
        assert len(account) == 18
        env.erp(
            "INSERT INTO customers (number, name, nip, crm_id) VALUES ('K-15', 'Fifteen Ltd', "
            ":nip, :crm_id)",
            nip=tax_id,
            crm_id=account[:15],
        )
        await engine.sync()
        (row,) = env.erp_rows("SELECT id FROM customers WHERE number = 'K-15'")
        linked = engine.store.partners("customer", "erp", [str(row[0])])
        after = await reconcile(engine)

    named = env.crm_rows("SELECT Id, ERP_Id__c FROM Account WHERE Name = 'Fifteen Ltd'")
    assert [a["Id"] for a in named] == [account]  # not a second Fifteen Ltd
    assert linked == {str(row[0]): account}  # keyed by the 18-character Id
    assert named[0]["ERP_Id__c"] == str(row[0])  # the key it was owed
    assert after.differences == 0
