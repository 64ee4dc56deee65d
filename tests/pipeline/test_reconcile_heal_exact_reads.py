"""``reconcile --heal`` reads the queued records again after its repair pass, in batches.

A create the CRM acknowledges but does not keep leaves the record missing, with no refusal
on record; a heal of more records than a read batch is re-read batch by batch and still
counted exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from memory_connector import MemoryConnector
from test_reconcile_heal_exact import behind_our_back, crm_key, synced

from tandem.connectors.base import Change, EntityBinding, WriteOp, WriteOutcome
from tandem.pipeline import recheck
from tandem.pipeline.reconcile import Drift, reconcile
from tandem.pipeline.report import PassReport


async def test_a_create_the_crm_acknowledges_but_loses_is_still_missing(tmp_path: Path) -> None:
    engine, erp, crm = await synced(tmp_path, ["Acme", "Globex"])
    # A customer not synced yet: missing in the CRM, and created there by the repair pass.
    # (A linked record gone from the CRM would be a delete, carried to the ERP.)
    erp.put("customers", "3", {"name": "Initech", "phone": None})
    real_write = crm.write_batch

    async def loses_creates(binding: EntityBinding, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        outcomes = await real_write(binding, ops)
        for outcome in outcomes:  # acknowledged, then lost (a rollback nobody reported)
            if outcome.ok and outcome.created and outcome.key is not None:
                crm.records["Account"].pop(outcome.key, None)
        return outcomes

    crm.write_batch = loses_creates  # type: ignore[method-assign]

    report = await reconcile(engine, heal=True)

    assert report.healed == 1 and report.repair is not None
    assert report.repair.writes >= 1 and report.repair.total("dead_lettered") == 0
    assert engine.store.dead_letters(flow="mem", status=None) == []
    new_key = engine.store.partner("customer", "erp", "3")
    assert new_key is not None  # the pass linked what it "created"
    assert report.unrepaired == 1
    assert report.still_drifting == [Drift("customer", "missing_in_crm", "3", new_key)]
    after = await reconcile(engine)
    assert [(d.kind, d.erp_key, d.crm_key) for d in after.drifts] == [
        ("missing_in_crm", "3", new_key)
    ]


def count_reads(monkeypatch: pytest.MonkeyPatch, system: MemoryConnector) -> list[int]:
    """How many keys each of ``system``'s ``read_records`` calls asks for, from now on."""
    asked: list[int] = []
    real = system.read_records

    async def read_records(binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
        asked.append(len(keys))
        return await real(binding, keys)

    monkeypatch.setattr(system, "read_records", read_records)
    return asked


async def test_the_queued_records_are_read_again_in_batches_and_counted_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"Customer {n:02}" for n in range(1, 12)]
    engine, erp, crm = await synced(tmp_path, names)
    await engine.sync()  # the ERP's write-back of the CRM keys is read: nothing left to read
    for n in range(1, 12):
        behind_our_back(crm, crm_key(engine, str(n)), Name="Edited")
    # From now on the CRM keeps 8 characters of "Customer 07": it is stored "Customer".
    crm.alter = lambda values: {
        k: v[:8] if k == "Name" and isinstance(v, str) and v.endswith("7") else v
        for k, v in values.items()
    }
    report = await reconcile(engine)
    assert report.differences == 11
    erp_asked, crm_asked = count_reads(monkeypatch, erp), count_reads(monkeypatch, crm)
    monkeypatch.setattr(recheck, "READ_BATCH", 4)
    before_recheck: list[int] = []  # reads by the scan and the repair pass
    real_sync = engine.sync

    async def sync_then_mark(
        *, dry_run: bool = False, entities: Sequence[str] | None = None
    ) -> PassReport:
        result = await real_sync(dry_run=dry_run, entities=entities)
        before_recheck.extend((len(erp_asked), len(crm_asked)))
        return result

    monkeypatch.setattr(engine, "sync", sync_then_mark)

    healed = await reconcile(engine, heal=True)

    assert healed.healed == 11 and healed.unrepaired == 1
    (left,) = healed.still_drifting
    assert (left.kind, left.erp_key, left.fields) == (
        "differs",
        "7",
        {"name": ("Customer 07", "Customer")},
    )
    # After the repair pass, the 11 queued records are read again 4 at a time from each side.
    assert erp_asked[before_recheck[0] :] == [4, 4, 3]
    assert crm_asked[before_recheck[1] :] == [4, 4, 3]
