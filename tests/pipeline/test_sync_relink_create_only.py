"""Linking to records the CRM already holds, with a fresh state store: create-only fields.

Salesforce lets some fields be set only when a record is created (PricebookEntry's
``Pricebook2Id`` and ``Product2Id``: createable, not updateable); an update that names one is
refused whole. A record linked to an existing partner (by its external ID or a match key) is
planned as an update of every field: the create-only ones are left out while they hold the
value the partner has, and a record whose partner would need another value (re-parenting,
which the CRM refuses) is dead-lettered, naming the field and the value.
"""

from __future__ import annotations

from pathlib import Path

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine
from tandem_env import Env

from tandem.connectors.base import EntityBinding, EntitySchema, FieldInfo, WriteOp
from tandem.pipeline.createonly import CODE
from tandem.pipeline.runtime import running_engine

FRESH_STATE = {"state.db": "relinked-state.db"}
"""The flow's text replaced to give it an empty state store (nothing linked, nothing agreed)."""


async def test_a_fresh_state_store_links_price_list_entries_without_writing_parents(
    env: Env,
) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
    before = _entries(env)
    assert len(before) == 40

    flow = env.flow(**FRESH_STATE)
    async with running_engine(flow) as engine:
        relinked = await engine.sync()
        quiet = await engine.sync()
        dead = engine.store.dead_letters(flow=flow.name, status="open", limit=1000)
        erp_keys = [str(row[0]) for row in env.erp_rows("SELECT id FROM price_list_entries")]
        partners = engine.store.partners("price_list_entry", "erp", erp_keys)

    assert [(d.entity, d.record_key, d.message) for d in dead] == []
    assert relinked.total("created") == 0
    assert _entries(env) == before  # no duplicate, none re-parented
    assert partners == {key: before[key][0] for key in erp_keys}
    assert quiet.writes == 0 and quiet.write_calls == 0


async def test_a_linked_entry_whose_parent_differs_is_dead_lettered_by_field(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
    before = _entries(env)
    # ERP entry 1 now names another product than its CRM partner: re-parenting is refused
    other = env.erp_rows(
        "SELECT id FROM products WHERE id <> (SELECT product_id FROM price_list_entries "
        "WHERE id = 1) ORDER BY id LIMIT 1"
    )[0][0]
    env.erp("UPDATE price_list_entries SET product_id = :p, unit_price = 1 WHERE id = 1", p=other)

    flow = env.flow(**FRESH_STATE)
    async with running_engine(flow) as engine:
        await engine.sync()
        dead = engine.store.dead_letters(flow=flow.name, status="open", limit=1000)

    assert [(d.entity, d.record_key, d.field) for d in dead] == [
        ("price_list_entry", "1", "product")
    ]
    assert dead[0].code == CODE
    assert "Product2Id" in dead[0].message and "created" in dead[0].message
    after = _entries(env)
    assert after["1"] == before["1"]  # not written: neither parent nor price
    assert {k: v for k, v in after.items() if k != "1"} == {
        k: v for k, v in before.items() if k != "1"
    }


class NamedOnCreate(MemoryConnector):
    """A CRM whose accounts are named when created and never renamed, like Salesforce's
    create-only fields: an update naming ``Name`` is refused whole, whatever the value."""

    def __init__(self) -> None:
        super().__init__("crm", key_prefix="001")
        self.updates: list[WriteOp] = []
        self.refuse = self._refuse

    async def describe(self, binding: EntityBinding) -> EntitySchema:
        schema = await super().describe(binding)
        fields = dict(schema.fields)
        fields["Name"] = FieldInfo("Name", "string", updateable=False)
        return EntitySchema(schema.source, fields)

    def _refuse(self, op: WriteOp) -> str | None:
        if op.action == "update":
            self.updates.append(op)
            if "Name" in op.values:
                return "INVALID_FIELD_FOR_INSERT_UPDATE: Unable to create/update fields: Name"
        return None


async def test_any_create_only_field_is_left_out_of_a_first_links_update(
    tmp_path: Path,
) -> None:
    """Not PricebookEntry alone: whatever field the target's description says is not
    updateable. Customer 1 names its CRM partner and agrees on the name; customer 2's partner
    holds another name, which the CRM would refuse to change: only that record is refused,
    by Tandem, before any call, naming the field and both values."""
    erp, crm = MemoryConnector("erp"), NamedOnCreate()
    crm.put("Account", "001A", {"Name": "Acme", "Phone": "+48 1", "ERP_Id": "1"})
    crm.put("Account", "001B", {"Name": "Globex", "Phone": None, "ERP_Id": "2"})
    erp.put("customers", "1", {"name": "Acme", "phone": "+48 1", "crm_id": "001A"})
    erp.put("customers", "2", {"name": "Globex Ltd", "phone": None, "crm_id": "001B"})
    engine = memory_engine(tmp_path, MEMORY_FLOW, erp, crm)
    await engine.prepare()

    await engine.sync()
    quiet = await engine.sync()

    dead = engine.store.dead_letters(flow="mem", status="open")
    assert [(d.entity, d.record_key, d.field, d.code) for d in dead] == [
        ("customer", "2", "name", CODE)
    ]
    assert "Account.Name" in dead[0].message
    assert "'Globex'" in dead[0].message and "'Globex Ltd'" in dead[0].message
    assert all("Name" not in op.values for op in crm.updates)  # none the CRM refused
    assert engine.store.partners("customer", "erp", ["1", "2"]) == {"1": "001A", "2": "001B"}
    assert sorted(crm.records["Account"]) == ["001A", "001B"]  # nothing created
    assert crm.records["Account"]["001B"]["Name"] == "Globex"
    assert quiet.writes == 0


def _entries(env: Env) -> dict[str, tuple[object, ...]]:
    """The CRM's price list entries by ERP key: (Id, Pricebook2Id, Product2Id, UnitPrice)."""
    rows = env.crm_rows(
        "SELECT Id, ERP_Id__c, Pricebook2Id, Product2Id, UnitPrice FROM PricebookEntry"
    )
    by_key: dict[str, tuple[object, ...]] = {}
    for row in rows:
        key = str(row["ERP_Id__c"])
        assert key not in by_key, f"two CRM entries for ERP entry {key}"
        by_key[key] = (row["Id"], row["Pricebook2Id"], row["Product2Id"], row["UnitPrice"])
    return by_key
