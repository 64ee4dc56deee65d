"""A partner claimed by ``claim_named`` is given the claimer's key when the plan sends it
nothing: the write a pass that died before its write-back owed it (known limit 5)."""

from __future__ import annotations

from pathlib import Path

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.pipeline.engine import Engine

FLOW = MEMORY_FLOW.replace("    owner: erp\n", "    owner: crm\n")
"""The memory flow with the CRM owning every field."""


def engine_for(tmp_path: Path) -> tuple[Engine, MemoryConnector, MemoryConnector]:
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm", key_prefix="001")
    return memory_engine(tmp_path, FLOW, erp, crm), erp, crm


async def test_a_claimed_partner_sent_nothing_gets_the_claimers_key(tmp_path: Path) -> None:
    """The CRM owns every field: the ERP row's claim plans nothing for the CRM, yet the CRM
    record is given ``ERP_Id``; the pass after writes nothing."""
    engine, erp, crm = engine_for(tmp_path)
    crm.put("Account", "001A", {"Name": "Acme", "Phone": "+48 1"})
    erp.put("customers", "1", {"name": "Acme", "phone": "+48 1", "crm_id": "001A"})
    await engine.prepare()

    await engine.sync()

    assert list(crm.records["Account"]) == ["001A"]
    assert crm.records["Account"]["001A"]["ERP_Id"] == "1"
    assert engine.store.partners("customer", "erp", ["1"]) == {"1": "001A"}
    [entry] = engine.store.audit_log(flow="mem", record_key="001A")
    assert (entry.target, entry.action, entry.after) == ("crm", "link", {"ERP_Id": "1"})
    settled = await engine.sync()
    assert settled.writes == 0
    assert settled.write_calls == 0


async def test_a_claimed_partner_naming_its_claimer_is_not_written(tmp_path: Path) -> None:
    """Each side names the other already (only the link was lost): no key write is owed."""
    engine, erp, crm = engine_for(tmp_path)
    crm.put("Account", "001A", {"Name": "Acme", "Phone": None, "ERP_Id": "1"})
    erp.put("customers", "1", {"name": "Acme", "phone": None, "crm_id": "001A"})
    await engine.prepare()

    report = await engine.sync()

    assert engine.store.partners("customer", "erp", ["1"]) == {"1": "001A"}
    assert crm.write_calls == 0
    assert report.total("linked") == 1


async def test_a_refused_key_write_is_a_letter_and_the_link_waits(tmp_path: Path) -> None:
    """The partner refuses the key write of the ERP row's claim: that record's link is not
    committed but lettered. The CRM side's own create (an upsert keyed by ``crm_id``) links
    the pair and writes the key back; the letter's retry finds the record agreed."""
    engine, erp, crm = engine_for(tmp_path)
    crm.put("Account", "001A", {"Name": "Acme", "Phone": None})
    erp.put("customers", "1", {"name": "Acme", "phone": None, "crm_id": "001A"})
    crm.refuse = lambda op: "locked" if op.ref == "1" else None  # the claim's key write only
    await engine.prepare()

    first = await engine.sync()

    assert first.counts["customer"]["erp->crm"]["dead_lettered"] == 1
    assert first.counts["customer"]["erp->crm"]["linked"] == 0
    assert engine.store.partners("customer", "erp", ["1"]) == {"1": "001A"}
    assert crm.records["Account"] == {"001A": {"Name": "Acme", "Phone": None, "ERP_Id": "1"}}
    assert list(erp.records["customers"]) == ["1"]
    crm.refuse = lambda op: None

    await engine.sync()

    assert engine.store.stats("mem")["open_dead_letters"] == 0
