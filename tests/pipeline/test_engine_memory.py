"""The engine against in-memory systems: refusals, retries from the dead-letter queue."""

from __future__ import annotations

from pathlib import Path

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.pipeline.engine import Engine


def engine_for(tmp_path: Path) -> tuple[Engine, MemoryConnector, MemoryConnector]:
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm", key_prefix="001")
    return memory_engine(tmp_path, MEMORY_FLOW, erp, crm), erp, crm


async def test_a_refused_record_is_dead_lettered_and_the_rest_commits(tmp_path: Path) -> None:
    engine, erp, crm = engine_for(tmp_path)
    for n in range(1, 6):
        erp.put("customers", str(n), {"name": f"Customer {n}", "phone": None})
    crm.refuse = lambda op: "FIELD_CUSTOM_VALIDATION_EXCEPTION: no" if op.ref == "3" else None
    await engine.prepare()
    report = await engine.sync()
    assert sorted(v["ERP_Id"] for v in crm.records["Account"].values()) == ["1", "2", "4", "5"]
    letters = engine.store.dead_letters(flow="mem")
    assert [(d.entity, d.side, d.record_key, d.field, d.value, d.code) for d in letters] == [
        ("customer", "erp", "3", "name", "Customer 3", "REFUSED")
    ]
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in letters[0].message
    assert report.total("created") == 4 and report.total("dead_lettered") == 1
    # The CRM's keys were written back to the ERP records that arrived.
    assert {k: v.get("crm_id") for k, v in erp.records["customers"].items()}["1"] == "0011"

    crm.refuse = lambda op: None
    engine.store.enqueue(
        flow="mem", entity="customer", side="erp", record_keys=["3"], reason="retry"
    )
    await engine.sync()
    assert len(crm.records["Account"]) == 5
    assert engine.store.dead_letters(flow="mem") == []
    calls = crm.write_calls
    again = await engine.sync()
    assert again.writes == 0 and crm.write_calls == calls


async def test_ownership_reverts_edits_of_fields_a_side_does_not_own(tmp_path: Path) -> None:
    engine, erp, crm = engine_for(tmp_path)
    erp.put("customers", "1", {"name": "Acme", "phone": None})
    await engine.prepare()
    await engine.sync()
    (crm_key,) = crm.records["Account"]
    crm.put("Account", crm_key, {"Name": "Renamed by sales", "Phone": "+48 500 600 700"})
    report = await engine.sync()
    assert crm.records["Account"][crm_key]["Name"] == "Acme"  # the ERP owns the name
    assert erp.records["customers"]["1"]["phone"] == "+48 500 600 700"  # the CRM owns phones
    assert report.total("reverted") == 1
    assert (await engine.sync()).writes == 0


async def test_deletes_on_one_side_follow_the_policy(tmp_path: Path) -> None:
    engine, erp, crm = engine_for(tmp_path)
    erp.put("customers", "1", {"name": "Acme", "phone": None})
    erp.put("customers", "2", {"name": "Beta", "phone": None})
    await engine.prepare()
    await engine.sync()
    erp.remove("customers", "2")
    report = await engine.sync()
    assert report.total("deleted") == 0  # default policy: ignore
    assert len(crm.records["Account"]) == 2


async def test_an_idle_source_that_can_be_probed_is_not_read(tmp_path: Path) -> None:
    engine, erp, crm = engine_for(tmp_path)
    erp.put("customers", "1", {"name": "Acme", "phone": None})
    await engine.prepare()
    await engine.sync()  # first pass: no cursor yet, every side is read
    await engine.sync()  # our own writes changed the CRM once more: read (echoes) again
    reads = crm.reads
    await engine.sync()
    await engine.sync()
    assert crm.reads == reads  # idle: the probe said so, nothing was read
    assert crm.probes >= 2
    (crm_key,) = crm.records["Account"]
    crm.put("Account", crm_key, {"Phone": "+48 500 600 700"})
    await engine.sync()
    assert crm.reads == reads + 1
    assert erp.records["customers"]["1"]["phone"] == "+48 500 600 700"


async def test_the_overlap_is_not_re_read_once_it_is_long_past(tmp_path: Path) -> None:
    engine, erp, _ = engine_for(tmp_path)
    for n in range(1, 4):
        erp.put("customers", str(n), {"name": f"Customer {n}", "phone": None})
    await engine.prepare()
    await engine.sync()
    await engine.sync()  # the CRM ids written back to the ERP are read once more
    third = await engine.sync()
    # The memory system's clock lies months before now: every change is long past the
    # overlap window, so a pass after a full read starts exactly at the cursor.
    assert third.counts == {}
    erp.put("customers", "2", {"name": "Renamed"})
    fourth = await engine.sync()
    assert fourth.counts["customer"]["erp->crm"]["read"] == 1

    # A new process knows it too: when the last read happened is kept in the store.
    newcomer = Engine(engine.flow, engine.store, engine.systems)
    await newcomer.prepare()
    quiet = await newcomer.sync()  # reads only the CRM's echo of the last pass's write
    assert "erp->crm" not in quiet.counts.get("customer", {})
    erp.put("customers", "3", {"name": "Renamed too"})
    assert (await newcomer.sync()).counts["customer"]["erp->crm"]["read"] == 1


async def test_a_new_process_re_reads_the_overlap_when_no_read_is_on_record(
    tmp_path: Path,
) -> None:
    engine, erp, _ = engine_for(tmp_path)
    for n in range(1, 4):
        erp.put("customers", str(n), {"name": f"Customer {n}", "phone": None})
    await engine.prepare()
    for _ in range(3):
        await engine.sync()  # then the ERP side is quiet (see the test above)
    assert engine.store.memo("mem", "customer.erp.fetched_at") is not None
    engine.store.save_memo("mem", "customer.erp.fetched_at", "")  # unreadable: as if never kept
    newcomer = Engine(engine.flow, engine.store, engine.systems)
    await newcomer.prepare()
    again = await newcomer.sync()
    assert again.counts["customer"]["erp->crm"]["read"] >= 1  # the window, read again


async def test_a_record_matched_on_first_sync_is_linked_even_when_nothing_is_written(
    tmp_path: Path,
) -> None:
    text = MEMORY_FLOW.replace(
        "      - {{field: name, erp: name, crm: Name}}",
        "      - {{field: name, erp: name, crm: Name, owner: crm}}\n"
        "      - {{field: tax_id, erp: nip, crm: Tax, owner: crm}}",
    ).replace("    owner: erp\n", "    owner: crm\n    match: [tax_id]\n")
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm", key_prefix="001")
    erp.put("customers", "1", {"name": "Acme", "nip": "5260250995", "phone": None})
    crm.put("Account", "001X", {"Name": "Acme S.A.", "Tax": "5260250995", "Phone": None})
    engine = memory_engine(tmp_path, text, erp, crm)
    await engine.prepare()
    await engine.sync()
    assert engine.store.partner("customer", "erp", "1") == "001X"
    assert len(crm.records["Account"]) == 1  # linked, not duplicated
    assert erp.records["customers"]["1"]["name"] == "Acme S.A."  # the CRM owns the name


async def test_reconcile_heals_a_record_lost_behind_our_back(tmp_path: Path) -> None:
    from test_reconcile_heal_kinds import ONE_WAY

    from tandem.pipeline.reconcile import reconcile

    # One way, ERP to CRM: the CRM takes no deletes of its own to the ERP, so a record lost
    # there is created again. In a flow that reads the CRM it is a delete, carried by the
    # delete policy (test_reconcile_heal_deletes.py).
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm", key_prefix="001")
    engine = memory_engine(tmp_path, ONE_WAY, erp, crm)
    for n in range(1, 4):
        erp.put("customers", str(n), {"name": f"Customer {n}", "phone": None})
    await engine.prepare()
    await engine.sync()
    lost = engine.store.partner("customer", "erp", "2")
    assert lost is not None
    del crm.records["Account"][lost]  # gone without a trace in the CRM's change stream
    found = await reconcile(engine)
    assert found.entities["customer"].drift == {"missing_in_crm": 1}
    healed = await reconcile(engine, heal=True)
    assert healed.healed == 1
    after = await reconcile(engine)
    assert after.differences == 0
    assert sorted(v["Name"] for v in crm.records["Account"].values()) == [
        "Customer 1",
        "Customer 2",
        "Customer 3",
    ]
