"""The delete policy's flag, held each system's own way (``erp_value``, ``crm_value``): a
delete on either side flags the survivor with the value its own field takes."""

from __future__ import annotations

from pathlib import Path

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.pipeline.reconcile import reconcile

PER_SIDE = MEMORY_FLOW.replace(
    "    owner: erp\n",
    "    owner: erp\n"
    "    delete: {{policy: flag, erp_field: active, crm_field: Active, value: N,"
    " erp_value: '0', crm_value: 'false'}}\n",
)


async def test_each_survivor_is_flagged_with_its_own_systems_value(tmp_path: Path) -> None:
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm", key_prefix="001")
    engine = memory_engine(tmp_path, PER_SIDE, erp, crm)
    for key, name in (("1", "Acme"), ("2", "Globex")):
        erp.put("customers", key, {"name": name, "phone": None})
    await engine.prepare()
    await engine.sync()
    await engine.sync()
    acme = engine.store.partner("customer", "erp", "1")
    globex = engine.store.partner("customer", "erp", "2")
    assert acme is not None and globex is not None

    erp.remove("customers", "1")
    crm.remove("Account", globex)
    await engine.sync()
    settled = await engine.sync()
    after = await reconcile(engine)

    assert crm.records["Account"][acme]["Active"] == "false"
    assert erp.records["customers"]["2"]["active"] == "0"
    assert settled.writes == 0
    assert after.differences == 0 and after.entities["customer"].archived == 2
