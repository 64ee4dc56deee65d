"""A pass drains the whole work queue, chunk by chunk, and never takes a record twice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from test_reconcile_heal_exact import crm_key, engine_for, synced

from tandem.connectors.base import Change, EntityBinding
from tandem.pipeline.drain import WORK_CHUNK


async def test_one_pass_syncs_every_queued_record_however_many(tmp_path: Path) -> None:
    count = 2 * WORK_CHUNK + 200
    engine, erp, crm = await synced(tmp_path, [f"Customer {n}" for n in range(1, count + 1)])
    await engine.sync()  # the ERP's write-back of the CRM keys is read: nothing left to read
    for n in range(1, count + 1):  # edited behind capture's back: only the queue knows
        erp.records["customers"][str(n)]["name"] = f"Renamed {n}"
    engine.store.enqueue(
        flow="mem",
        entity="customer",
        side="erp",
        record_keys=[str(n) for n in range(1, count + 1)],
        reason="test",
    )

    report = await engine.sync()

    assert report.total("updated") >= count
    names = {crm.records["Account"][crm_key(engine, str(n))]["Name"] for n in (1, count)}
    assert names == {"Renamed 1", f"Renamed {count}"}
    assert sum(v["Name"].startswith("Renamed") for v in crm.records["Account"].values()) == count
    assert engine.store.due_work("mem", limit=10 * count) == []


async def test_a_record_queued_again_during_the_drain_waits_for_the_next(tmp_path: Path) -> None:
    engine, erp, _ = engine_for(tmp_path)
    count = WORK_CHUNK + 10
    keys = [str(n) for n in range(1, count + 1)]
    for key in keys:
        erp.put("customers", key, {"name": f"Customer {key}", "phone": None})
    await engine.prepare()
    store = engine.store
    store.enqueue(flow="mem", entity="customer", side="erp", record_keys=keys, reason="test")
    read: list[str] = []
    original = erp.read_records

    async def read_and_requeue(binding: EntityBinding, wanted: Sequence[str]) -> dict[str, Change]:
        read.extend(wanted)
        if "1" in wanted and "1" not in read[: -len(wanted)]:
            # record 1 is queued again while its chunk is being synced (once)
            store.enqueue(
                flow="mem", entity="customer", side="erp", record_keys=["1"], reason="again"
            )
        return await original(binding, wanted)

    erp.read_records = read_and_requeue  # type: ignore[method-assign]

    await engine.sync()

    assert sorted(read, key=int) == keys  # each queued record read once in this pass
    (left,) = store.due_work("mem", limit=100)
    assert left.record_key == "1"
    await engine.sync()  # the next pass takes it
    assert store.due_work("mem", limit=100) == []
    assert read.count("1") == 2


async def test_a_dry_run_plans_every_queued_record_and_leaves_them_queued(tmp_path: Path) -> None:
    count = 2 * WORK_CHUNK + 10
    engine, erp, crm = await synced(tmp_path, [f"Customer {n}" for n in range(1, count + 1)])
    await engine.sync()  # the ERP's write-back of the CRM keys is read: nothing left to read
    for n in range(1, count + 1):  # edited behind capture's back: only the queue knows
        erp.records["customers"][str(n)]["name"] = f"Renamed {n}"
    keys = [str(n) for n in range(1, count + 1)]
    engine.store.enqueue(flow="mem", entity="customer", side="erp", record_keys=keys, reason="t")
    writes = crm.write_calls

    report = await engine.sync(dry_run=True)

    assert report.total("updated") == count  # every queued record planned, not the first chunk
    assert crm.write_calls == writes
    assert len(engine.store.due_work("mem", limit=10 * count)) == count
