"""Reconcile keeps memory bounded whatever the amount of drift, scanning and healing.

Only the first ``DETAIL_LIMIT`` drifts are listed in a report (every one is counted), so
what the scan finds beyond them, and what ``--heal`` queues and checks again, is kept on disk
or handled a batch at a time. Both systems here make their records up as they are read or
looked up (nothing is held in memory, and a write is taken and forgotten), so what a
reconcile allocates is its own: with five times the drifted records out of the same total,
its peak must stay about the same. The batches and the listed details are made small here
(what is held is bounded by them, whatever they are), so that both amounts of drift span
several batches and the test runs in seconds.

The repair pass ``--heal`` runs (``Engine.sync``) is measured apart: it is the engine's, not
reconcile's, and its own bound (what a pass remembers of the records it takes, past a few
thousand, on disk) is tested in ``test_drain_memory.py``. What reconcile itself holds while it
heals (the drifts to queue, those queued, those still drifting when read again) is what is
bounded here.
"""

from __future__ import annotations

import gc
import importlib
import tracemalloc
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from memory_connector import T0, MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.connectors.base import Change, EntityBinding, WriteOp, WriteOutcome
from tandem.pipeline.engine import Engine
from tandem.pipeline.reconcile import ReconcileReport, reconcile
from tandem.pipeline.report import PassReport

TOTAL = 10_000
FEW = 2_000
MANY = 8_000
BATCH = 250
LISTED = 100
GROWTH = 1_000_000
"""Bytes of peak the 6,000 more drifted records may add: a third of what keeping each one's
drift in memory would (about 500 bytes a record)."""


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("tandem.pipeline.reconcile")
    monkeypatch.setattr(module, "READ_BATCH", BATCH)
    monkeypatch.setattr(module, "DETAIL_LIMIT", LISTED)


class Drifting(MemoryConnector):
    """``TOTAL`` records made up as they are read; on the CRM side the first ``drifted``
    carry another name. Writes are taken and forgotten, so a repair never takes."""

    def __init__(self, system: str, drifted: int, total: int = TOTAL) -> None:
        super().__init__(system)
        self.drifted = drifted
        self.total = total

    def make(self, n: int) -> Change:
        if self.system == "erp":
            return Change(str(n), {"name": f"Customer {n}", "phone": f"+48 {n:09d}"}, T0)
        name = f"Renamed {n}" if n <= self.drifted else f"Customer {n}"
        fields = {"Name": name, "Phone": f"+48 {n:09d}", "ERP_Id": str(n)}
        return Change(f"001{n:015d}", fields, T0)

    def number(self, key: str) -> int:
        return int(key if self.system == "erp" else key[3:])

    async def read_all(
        self, binding: EntityBinding, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        for start in range(1, self.total + 1, batch_size):
            yield [self.make(n) for n in range(start, min(start + batch_size, self.total + 1))]

    async def read_records(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
        return {key: self.make(self.number(key)) for key in keys}

    async def write_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        self.write_calls += 1
        return [WriteOutcome(op.ref, True, key=op.key) for op in ops]


def linked_engine(folder: Path, drifted: int, total: int = TOTAL) -> Engine:
    """An engine between two :class:`Drifting` systems, every record linked."""
    folder.mkdir()
    erp, crm = Drifting("erp", drifted, total), Drifting("crm", drifted, total)
    engine = memory_engine(folder, MEMORY_FLOW, erp, crm)
    for start in range(1, total + 1, 5000):
        numbers = range(start, min(start + 5000, total + 1))
        engine.store.link_many("customer", [(str(n), f"001{n:015d}") for n in numbers])
    return engine


async def peak_of_reconcile(folder: Path, drifted: int, heal: bool) -> tuple[int, ReconcileReport]:
    """The peak of Python allocations of a reconcile, the repair pass's own left out."""
    engine = linked_engine(folder, drifted)
    repair = engine.sync
    peaks: list[int] = []

    async def sync(*, entities: Sequence[str] | None = None) -> PassReport:
        peaks.append(tracemalloc.get_traced_memory()[1])  # reconcile's, up to the pass
        try:
            return await repair(entities=entities)
        finally:
            tracemalloc.reset_peak()

    engine.sync = sync  # type: ignore[method-assign]
    tracemalloc.start()
    try:
        report = await reconcile(engine, heal=heal)
        peak = max([tracemalloc.get_traced_memory()[1], *peaks])
    finally:
        tracemalloc.stop()
        engine.store.close()
    counts = report.entities["customer"]
    assert (counts.drift, counts.in_sync) == ({"differs": drifted}, TOTAL - drifted)
    assert len(report.drifts) == LISTED
    return peak, report


async def test_the_scan_does_not_grow_with_the_drift(tmp_path: Path) -> None:
    few, _ = await peak_of_reconcile(tmp_path / "few", FEW, heal=False)
    many, _ = await peak_of_reconcile(tmp_path / "many", MANY, heal=False)
    # a drift (and a differing pair) per record kept in memory is about 3 MB more for the
    # 6,000 more drifted records; the peaks of equal work vary by a few hundred KB from run to
    # run (when the store's threads and the collector free what they hold), so the bound is a
    # third of that growth, not a ratio of a peak under 1 MB
    assert many - few < GROWTH, (few, many)


async def test_healing_does_not_grow_with_the_drift(tmp_path: Path) -> None:
    few, small = await peak_of_reconcile(tmp_path / "few", FEW, heal=True)
    many, large = await peak_of_reconcile(tmp_path / "many", MANY, heal=True)
    for report, drifted in ((small, FEW), (large, MANY)):
        # the writes are forgotten: every queued record still differs when read again
        assert (report.healed, report.unrepaired) == (drifted, drifted)
        assert len(report.still_drifting) == LISTED
    assert many - few < GROWTH, (few, many)


async def test_a_heal_between_in_memory_systems_leaves_no_reference_cycle(tmp_path: Path) -> None:
    # What the periodic full collection (COLLECT_EVERY) is for are the connectors' libraries'
    # cycles: reconcile and the state store leave none, the store's IN lists included.
    engine = linked_engine(tmp_path / "state", 600, total=1_000)
    gc.collect()
    gc.disable()
    try:
        report = await reconcile(engine, heal=True)
    finally:
        cycles = gc.collect()
        gc.enable()
        engine.store.close()
    assert (report.healed, report.unrepaired) == (600, 600)
    assert cycles == 0
