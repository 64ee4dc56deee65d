"""End to end: the survivor of a delete whose flag field the flow does not map.

The demo archives a customer in the ERP (``active`` set to false) when its Account is
deleted, and ``active`` is not mapped. Editing the survivor while it stays flagged changes
nothing in the CRM; clearing the flag restores the Account. The same holds the other way, for
a flag policy on a CRM checkbox the flow does not map either.
"""

from __future__ import annotations

from tandem_env import Env

from tandem.pipeline.reconcile import reconcile
from tandem.pipeline.runtime import running_engine


async def test_an_archived_customer_stays_deleted_until_its_flag_is_cleared(any_env: Env) -> None:
    env = any_env
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'")[0]
        env.crm.org.delete("Account", str(account["Id"]))
        await engine.sync()
        echo = await engine.sync()
        assert echo.writes == 0  # the flag read back is the delete's echo
        assert not env.erp_rows("SELECT active FROM customers WHERE id = 2")[0][0]

        # An ERP user edits the archived survivor: it stays archived, the Account deleted.
        env.erp("UPDATE customers SET phone = '+48 111 000 040' WHERE id = 2")
        edited = await engine.sync()
        settled = await engine.sync()
        assert edited.writes == 0 and edited.total("created") == 0
        assert settled.writes == 0
        assert env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'") == []
        kept = env.erp_rows("SELECT active, crm_id FROM customers WHERE id = 2")
        assert [(bool(row[0]), row[1]) for row in kept] == [(False, account["Id"])]
        customers = (await reconcile(engine, entities=["customer"])).entities["customer"]
        assert customers.archived == 1

        # Clearing the flag restores the Account, with the edit made meanwhile.
        env.erp("UPDATE customers SET active = TRUE WHERE id = 2")
        restored = await engine.sync()
        again = await engine.sync()
    assert restored.total("created") == 1 and again.writes == 0
    back = env.crm_rows("SELECT Id, Phone FROM Account WHERE ERP_Id__c = '2'")
    assert [row["Phone"] for row in back] == ["+48 111 000 040"]
    linked = env.erp_rows("SELECT active, crm_id FROM customers WHERE id = 2")
    assert [(bool(row[0]), row[1]) for row in linked] == [(True, back[0]["Id"])]


UNMAPPED_FLAG_PRODUCTS = {
    "    depends_on: [product_category]\n": "    depends_on: [product_category]\n"
    "    delete: {policy: flag, erp_field: active, crm_field: IsActive, value: false}\n",
    "      - {field: active, erp: active, crm: IsActive}\n      - {field: category": (
        "      - {field: category"
    ),
}


async def test_flags_on_both_sides_keep_deletes_until_cleared_when_not_mapped(env: Env) -> None:
    """Products flagged on either side (ERP ``active``, CRM ``IsActive``), neither mapped."""
    flow = env.flow(**UNMAPPED_FLAG_PRODUCTS)
    assert all(f.field != "active" for f in flow.entity("product").fields)
    for code in ("GONE-ERP", "GONE-CRM"):
        env.erp(f"INSERT INTO products (code, name) VALUES ('{code}', 'Spare {code}')")
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("DELETE FROM products WHERE code = 'GONE-ERP'")
        in_crm = env.crm_rows("SELECT Id FROM Product2 WHERE ProductCode = 'GONE-CRM'")[0]
        env.crm.org.delete("Product2", str(in_crm["Id"]))
        deleted = await engine.sync()
        echoes = await engine.sync()
        assert deleted.total("deleted") == 2 and echoes.writes == 0
        survivor = env.crm_rows("SELECT Id, IsActive FROM Product2 WHERE ProductCode = 'GONE-ERP'")
        assert [row["IsActive"] for row in survivor] == [False]
        kept = env.erp_rows("SELECT active FROM products WHERE code = 'GONE-CRM'")
        assert [bool(row[0]) for row in kept] == [False]

        # Both survivors edited while flagged: nothing comes back on either side.
        env.erp("UPDATE products SET name = 'Spare, renamed in the ERP' WHERE code = 'GONE-CRM'")
        env.crm.org.update("Product2", str(survivor[0]["Id"]), {"Name": "Spare, renamed in SF"})
        edited = await engine.sync()
        settled = await engine.sync()
        assert edited.writes == 0 and settled.writes == 0
        assert env.crm_rows("SELECT Id FROM Product2 WHERE ProductCode = 'GONE-CRM'") == []
        assert env.erp_rows("SELECT id FROM products WHERE code = 'GONE-ERP'") == []

        # Clearing each flag restores the record on the other side, as edited.
        env.erp("UPDATE products SET active = TRUE WHERE code = 'GONE-CRM'")
        env.crm.org.update("Product2", str(survivor[0]["Id"]), {"IsActive": True})
        restored = await engine.sync()
        again = await engine.sync()
    assert restored.total("created") == 2 and again.writes == 0
    back_in_crm = env.crm_rows("SELECT Name FROM Product2 WHERE ProductCode = 'GONE-CRM'")
    assert [row["Name"] for row in back_in_crm] == ["Spare, renamed in the ERP"]
    back_in_erp = env.erp_rows("SELECT name FROM products WHERE code = 'GONE-ERP'")
    assert [row[0] for row in back_in_erp] == ["Spare, renamed in SF"]
