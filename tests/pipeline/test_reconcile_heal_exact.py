"""``reconcile --heal`` counts as repaired only what both systems hold alike afterwards.

The repair pass's writes are no proof: a CRM that shortens a value takes the write without
refusal, and a pass may not reach every record queued. Each queued record is read again from
both systems, and its drift is counted (and listed) until they agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.connectors.base import EntityBinding, WriteOp, WriteOutcome
from tandem.pipeline.drain import WORK_CHUNK
from tandem.pipeline.engine import Engine
from tandem.pipeline.reconcile import Drift, reconcile


class AlteringConnector(MemoryConnector):
    """A system that takes every write without refusal, but stores what ``alter`` makes of
    its values (a field shorter than the value, a trigger rewriting it)."""

    def __init__(self, system: str, *, key_prefix: str = "") -> None:
        super().__init__(system, key_prefix=key_prefix)
        self.alter: Callable[[Mapping[str, Any]], dict[str, Any]] = dict

    async def write_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        altered = [replace(op, values=self.alter(op.values)) for op in ops]
        return await super().write_batch(binding, altered)


def engine_for(tmp_path: Path) -> tuple[Engine, MemoryConnector, AlteringConnector]:
    erp, crm = MemoryConnector("erp"), AlteringConnector("crm", key_prefix="001")
    return memory_engine(tmp_path, MEMORY_FLOW, erp, crm), erp, crm


async def synced(
    tmp_path: Path, names: Sequence[str]
) -> tuple[Engine, MemoryConnector, AlteringConnector]:
    """Customers 1..n with ``names``, synced; both systems agree."""
    engine, erp, crm = engine_for(tmp_path)
    for n, name in enumerate(names, start=1):
        erp.put("customers", str(n), {"name": name, "phone": None})
    await engine.prepare()
    await engine.sync()
    assert (await reconcile(engine)).differences == 0
    return engine, erp, crm


def crm_key(engine: Engine, erp_key: str) -> str:
    key = engine.store.partner("customer", "erp", erp_key)
    assert key is not None
    return key


def behind_our_back(crm: MemoryConnector, key: str, **values: Any) -> None:
    """Change a CRM record without a trace in its change stream (only reconcile sees it)."""
    crm.records["Account"][key].update(values)


async def test_a_repair_the_crm_shortens_is_counted_and_listed_as_not_repaired(
    tmp_path: Path,
) -> None:
    engine, _, crm = await synced(tmp_path, ["Acme", "Globex Corporation"])
    acme, globex = crm_key(engine, "1"), crm_key(engine, "2")
    behind_our_back(crm, acme, Name="Edited")
    behind_our_back(crm, globex, Name="Edited")
    # From now on the CRM keeps 10 characters of a name, and refuses nothing.
    crm.alter = lambda values: {
        k: v[:10] if k == "Name" and isinstance(v, str) else v for k, v in values.items()
    }

    report = await reconcile(engine, heal=True)

    assert report.differences == 2 and report.healed == 2
    assert report.repair is not None and report.repair.total("dead_lettered") == 0
    # Nothing was refused: no dead letter, no conflict, which is all the old count looked at.
    assert engine.store.dead_letters(flow="mem", status=None) == []
    assert engine.store.conflicts(flow="mem", status=None) == []
    assert crm.records["Account"][acme]["Name"] == "Acme"  # repaired
    assert crm.records["Account"][globex]["Name"] == "Globex Cor"  # written, but shortened
    assert report.unrepaired == 1
    assert report.still_drifting == [
        Drift("customer", "differs", "2", globex, {"name": ("Globex Corporation", "Globex Cor")})
    ]
    # What the next reconcile finds, the heal already said.
    after = await reconcile(engine)
    assert after.differences == 1
    assert [(d.kind, d.erp_key, d.crm_key, d.fields) for d in after.drifts] == [
        (d.kind, d.erp_key, d.crm_key, d.fields) for d in report.still_drifting
    ]


async def test_everything_repaired_leaves_nothing_unrepaired(tmp_path: Path) -> None:
    engine, erp, crm = await synced(tmp_path, ["Acme", "Globex", "Initech"])
    behind_our_back(crm, crm_key(engine, "1"), Name="Edited")
    del crm.records["Account"][crm_key(engine, "2")]  # deleted in the CRM, not synced
    del erp.records["customers"]["3"]  # deleted in the ERP; its CRM record is linked still
    found = await reconcile(engine)
    assert found.entities["customer"].drift == {
        "differs": 1,
        "missing_in_crm": 1,
        "missing_in_erp": 1,
    }

    report = await reconcile(engine, heal=True)

    assert report.healed == 3
    assert report.unrepaired == 0 and report.still_drifting == []
    after = await reconcile(engine)
    assert after.differences == 0
    # The deletes are carried as a sync carries them (the flow's policy, ignore, leaves each
    # survivor where it is); neither record is created again.
    assert after.entities["customer"].archived == 2
    assert sorted(v["Name"] for v in crm.records["Account"].values()) == ["Acme", "Initech"]
    assert sorted(v["name"] for v in erp.records["customers"].values()) == ["Acme", "Globex"]


async def test_a_repair_the_crm_refuses_is_listed_with_its_dead_letter(tmp_path: Path) -> None:
    engine, _, crm = await synced(tmp_path, ["Acme", "Globex"])
    globex = crm_key(engine, "2")
    behind_our_back(crm, globex, Name="Edited")
    # the CRM refuses every write of Globex: the ERP's (ref "2") or a revert of its own record
    crm.refuse = lambda op: (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: no" if globex in (op.ref, op.key) else None
    )

    report = await reconcile(engine, heal=True)

    assert report.unrepaired == 1
    (left,) = report.still_drifting
    assert (left.kind, left.erp_key, left.crm_key) == ("differs", "2", globex)
    assert left.fields == {"name": ("Globex", "Edited")}
    assert "open dead letter" in left.message


async def test_a_heal_of_more_records_than_a_work_chunk_repairs_them_all_in_one_pass(
    tmp_path: Path,
) -> None:
    # The pass drains the work queue chunk by chunk (WORK_CHUNK records at a time) until
    # nothing queued is due: 800 queued records are all repaired, none left for later.
    engine, _, crm = await synced(tmp_path, [f"Customer {n}" for n in range(1, 801)])
    await engine.sync()  # the ERP's write-back of the CRM keys is read: nothing left to read
    for n in range(1, 801):
        behind_our_back(crm, crm_key(engine, str(n)), Name="Edited")
    assert WORK_CHUNK < 800

    report = await reconcile(engine, heal=True)

    assert report.healed == 800 and report.repair is not None
    assert report.repair.total("dead_lettered") == 0
    assert report.unrepaired == 0 and report.still_drifting == []
    assert not [k for k, v in crm.records["Account"].items() if v["Name"] == "Edited"]
    assert engine.store.due_work("mem", limit=5000) == []
    after = await reconcile(engine)
    assert after.differences == 0
