"""A shared field edited on both sides while the CRM record holds a value that cannot be mapped.

The other system's current record is read to compare a field both may edit. A value elsewhere
in it that cannot be mapped (a country the value map lacks) must not make the comparison
silently skipped, nor the target's edit silently overwritten.
"""

from __future__ import annotations

import asyncio

from tandem_env import Env

from tandem.pipeline.contested import UNREADABLE
from tandem.pipeline.runtime import running_engine

COUNTRY = """      - field: billing_address.country
        erp: country_code
        crm: BillingCountry
        value_map: countries"""


def account(env: Env, erp_id: int) -> dict[str, object]:
    return env.crm_rows(
        f"SELECT Id, Phone, BillingCountry FROM Account WHERE ERP_Id__c = '{erp_id}'"
    )[0]


async def test_a_manual_conflict_is_queued_though_another_crm_value_cannot_be_read(
    any_env: Env,
) -> None:
    env = any_env
    flow = env.flow(**{"conflict: newest_wins": "conflict: manual"})
    async with running_engine(flow) as engine:
        await engine.sync()
        crm_id = str(account(env, 2)["Id"])
        env.crm.org.update(
            "Account", crm_id, {"Phone": "+48 222 000 050", "BillingCountry": "France"}
        )
        env.erp("UPDATE customers SET phone = '+48 111 000 050' WHERE id = 2")
        await engine.sync()
        conflicts = engine.store.conflicts(flow=flow.name, status="open")
        await engine.sync()
    assert [(c.erp_key, c.field) for c in conflicts] == [("2", "phone")]
    assert conflicts[0].erp_value == "+48 111 000 050"
    assert conflicts[0].crm_value == "+48 222 000 050"
    # Held for a person: neither side's phone was written over.
    assert account(env, 2)["Phone"] == "+48 222 000 050"
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 2")[0][0] == "+48 111 000 050"


async def test_the_newer_crm_edit_wins_though_another_crm_value_cannot_be_read(
    env: Env,
) -> None:
    flow = env.flow()  # newest_wins; phone owned by both
    async with running_engine(flow) as engine:
        await engine.sync()
        crm_id = str(account(env, 2)["Id"])
        env.erp("UPDATE customers SET phone = '+48 111 000 070' WHERE id = 2")
        await asyncio.sleep(0.05)  # the CRM's edit is the newer one
        env.crm.org.update(
            "Account", crm_id, {"Phone": "+48 222 000 070", "BillingCountry": "France"}
        )
        await engine.sync()
        assert account(env, 2)["Phone"] == "+48 222 000 070"
        env.crm.org.update("Account", crm_id, {"BillingCountry": "Poland"})  # fixed there
        await engine.sync()
        again = await engine.sync()
    assert account(env, 2)["Phone"] == "+48 222 000 070"
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 2")[0][0] == "+48 222 000 070"
    assert again.writes == 0


async def test_a_shared_field_whose_crm_value_cannot_be_read_is_dead_lettered_not_written(
    env: Env,
) -> None:
    # The country is edited by both systems here; the CRM's new country is unknown to the
    # value map, so whether the ERP's edit of it conflicts cannot be told.
    flow = env.flow(**{COUNTRY: COUNTRY + "\n        owner: both"})
    async with running_engine(flow) as engine:
        await engine.sync()
        crm_id = str(account(env, 3)["Id"])
        env.crm.org.update("Account", crm_id, {"BillingCountry": "France"})
        env.erp("UPDATE customers SET country_code = 'DE' WHERE id = 3")
        await engine.sync()
        letters = engine.store.dead_letters(flow=flow.name, status="open", code=UNREADABLE)
    assert account(env, 3)["BillingCountry"] == "France"  # not written over
    assert [(d.side, d.record_key, d.field, d.value) for d in letters] == [
        ("erp", "3", "billing_address.country", "DE")
    ]
    assert crm_id in letters[0].message and "France" in letters[0].message
