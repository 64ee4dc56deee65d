"""An unlinked record whose external-ID field names an existing, unlinked partner is linked to
it, not created a second time (a pass that died between the write and its state commit)."""

from __future__ import annotations

from pathlib import Path

from test_reconcile_heal_exact import engine_for

from tandem.pipeline.reconcile import reconcile


def accounts(crm: object) -> dict[str, dict[str, object]]:
    return crm.records.get("Account", {})  # type: ignore[attr-defined, no-any-return]


async def test_a_record_naming_its_partner_is_linked_to_it(tmp_path: Path) -> None:
    engine, erp, crm = engine_for(tmp_path)
    crm.put("Account", "001A", {"Name": "Acme", "Phone": "+48 1"})  # no ERP_Id: never linked
    erp.put("customers", "1", {"name": "Acme", "phone": "+48 1", "crm_id": "001A"})
    await engine.prepare()

    await engine.sync()

    assert list(accounts(crm)) == ["001A"]  # not a second Acme
    assert accounts(crm)["001A"]["ERP_Id"] == "1"
    assert list(erp.records["customers"]) == ["1"]  # nor a second ERP row
    assert engine.store.partners("customer", "erp", ["1"]) == {"1": "001A"}
    assert (await reconcile(engine)).differences == 0


async def test_a_named_partner_that_is_gone_or_taken_is_not_claimed(tmp_path: Path) -> None:
    engine, erp, crm = engine_for(tmp_path)
    crm.put("Account", "001A", {"Name": "Acme", "Phone": None})
    erp.put("customers", "1", {"name": "Acme", "phone": None, "crm_id": "001A"})
    erp.put("customers", "2", {"name": "Copy of Acme", "phone": None, "crm_id": "001A"})
    erp.put("customers", "3", {"name": "Gone", "phone": None, "crm_id": "001GONE"})
    await engine.prepare()

    await engine.sync()

    partners = engine.store.partners("customer", "erp", ["1", "2", "3"])
    assert partners["1"] == "001A"  # the first claim wins
    assert partners["2"] != "001A" and partners["3"] != "001GONE"  # created anew
    assert sorted(a["Name"] for a in accounts(crm).values()) == ["Acme", "Copy of Acme", "Gone"]
    assert len(set(partners.values())) == 3
