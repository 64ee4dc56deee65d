"""A link whose records are gone from both systems is reported, and ``--heal`` drops it.

Deleted in the ERP and in the CRM while nothing watched (both hard-deleted), the pair left
its link and its synced versions in the state for good: no scan reads either record. Reconcile
reports it as ``gone_both_sides``; healing forgets the link and the synced versions (as a
synced delete forgets its link), so a record created again under the same ERP key is synced
as a new one, not written to the dead CRM Id.
"""

from __future__ import annotations

from pathlib import Path

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW
from test_reconcile_heal_kinds import partner, synced

from tandem.pipeline.reconcile import reconcile


async def test_a_pair_deleted_in_both_systems_is_reported_and_healed(tmp_path: Path) -> None:
    erp = MemoryConnector("erp")
    engine, crm = await synced(tmp_path, MEMORY_FLOW, erp)
    dead = partner(engine, "1")
    del erp.records["customers"]["1"]  # hard-deleted in both, behind the change streams
    del crm.records["Account"][dead]

    found = await reconcile(engine)
    assert found.entities["customer"].drift == {"gone_both_sides": 1}
    (drift,) = found.drifts
    assert (drift.kind, drift.erp_key, drift.crm_key) == ("gone_both_sides", "1", dead)
    assert engine.store.partner("customer", "erp", "1") == dead  # reporting changes nothing

    report = await reconcile(engine, heal=True)
    assert report.healed == 1 and report.unrepaired == 0
    assert engine.store.partner("customer", "erp", "1") is None
    assert engine.store.partner("customer", "crm", dead) is None
    assert engine.store.synced("customer", "erp", ["1"]) == {}
    assert engine.store.synced("customer", "crm", [dead]) == {}
    assert (await reconcile(engine)).differences == 0

    erp.put("customers", "1", {"name": "Initech", "phone": None})  # the key used again
    await engine.sync()
    again = partner(engine, "1")
    assert again != dead and dead not in crm.records["Account"]
    assert crm.records["Account"][again]["Name"] == "Initech"


async def test_a_pair_gone_on_one_side_only_is_not_gone_from_both(tmp_path: Path) -> None:
    erp = MemoryConnector("erp")
    engine, crm = await synced(tmp_path, MEMORY_FLOW, erp)
    del crm.records["Account"][partner(engine, "1")]

    found = await reconcile(engine)
    assert found.entities["customer"].drift == {"missing_in_crm": 1}
