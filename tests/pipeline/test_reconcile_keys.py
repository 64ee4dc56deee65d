"""Reconcile with awkward keys: keys differing only in case or trailing spaces, numeric-looking
text, commas, quotes, newlines and non-Latin letters are all distinct records, compared with
their own partner (the scan's on-disk CRM side keys them byte for byte)."""

from __future__ import annotations

from pathlib import Path

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.pipeline.reconcile import reconcile

KEYS = ["abc", "ABC", "x", "x ", " x", "007", "7", "a,b", "q\"u'o", "new\nline", "zażółć", "ключ"]


async def test_awkward_keys_reconcile_and_heal_each_record_alone(tmp_path: Path) -> None:
    erp = MemoryConnector("erp")
    crm = MemoryConnector("crm", key_prefix="001")
    engine = memory_engine(tmp_path, MEMORY_FLOW, erp, crm)
    for n, key in enumerate(KEYS):
        erp.put("customers", key, {"name": f"Customer {n}", "phone": None})
    await engine.prepare()
    await engine.sync()
    await engine.sync()
    found = await reconcile(engine)
    assert found.differences == 0
    assert found.entities["customer"].in_sync == len(KEYS)

    partner = {k: engine.store.partner("customer", "erp", k) for k in KEYS}
    assert len({p for p in partner.values() if p}) == len(KEYS)
    for key in ("ABC", "x ", "7", "new\nline"):
        crm.records["Account"][str(partner[key])]["Name"] = "Edited"
    found = await reconcile(engine)
    assert sorted((d.kind, d.erp_key) for d in found.drifts) == [
        ("differs", "7"),
        ("differs", "ABC"),
        ("differs", "new\nline"),
        ("differs", "x "),
    ]

    report = await reconcile(engine, heal=True)
    assert report.healed == 4 and report.unrepaired == 0
    names = {k: crm.records["Account"][str(partner[k])]["Name"] for k in KEYS}
    assert names == {k: f"Customer {n}" for n, k in enumerate(KEYS)}
    assert (await reconcile(engine)).differences == 0
