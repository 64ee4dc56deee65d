"""Reconcile keeps memory bounded whatever the volume: the CRM side of the scan is kept on
disk, not as a dict of every record's digest in memory.

Both systems here make their records up as they are read (nothing is held in memory), so
what the scan allocates is reconcile's own; its peak with three times the records must stay
about the same. The wall time and RSS at 100,000 records against the sandbox are measured by
``benchmarks/reconcile_scale.py``.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from memory_connector import T0, MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.connectors.base import Change, EntityBinding
from tandem.pipeline.reconcile import reconcile


class Generated(MemoryConnector):
    """A system whose ``count`` records are made up as they are read, in key order."""

    def __init__(self, system: str, count: int, make: Callable[[int], tuple[str, dict[str, Any]]]):
        super().__init__(system)
        self.count = count
        self.make = make

    async def read_all(
        self, binding: EntityBinding, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        for start in range(1, self.count + 1, batch_size):
            end = min(start + batch_size, self.count + 1)
            yield [Change(*self.make(n), T0) for n in range(start, end)]

    async def read_records(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
        return {}


def erp_record(n: int) -> tuple[str, dict[str, Any]]:
    return str(n), {"name": f"Customer {n}", "phone": f"+48 {n:09d}"}


def crm_record(n: int) -> tuple[str, dict[str, Any]]:
    return f"001{n:015d}", {"Name": f"Customer {n}", "Phone": f"+48 {n:09d}", "ERP_Id": str(n)}


async def peak_of_reconcile(folder: Path, count: int) -> int:
    erp = Generated("erp", count, erp_record)
    crm = Generated("crm", count, crm_record)
    engine = memory_engine(folder, MEMORY_FLOW, erp, crm)
    for start in range(1, count + 1, 5000):
        pairs = [(erp_record(n)[0], crm_record(n)[0]) for n in range(start, start + 5000)]
        engine.store.link_many("customer", [p for p in pairs if int(p[0]) <= count])
    tracemalloc.start()
    try:
        report = await reconcile(engine)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.differences == 0
    assert report.entities["customer"].in_sync == count
    return peak


async def test_reconcile_memory_does_not_grow_with_the_record_count(tmp_path: Path) -> None:
    (tmp_path / "small").mkdir()
    (tmp_path / "large").mkdir()
    small = await peak_of_reconcile(tmp_path / "small", 20_000)
    large = await peak_of_reconcile(tmp_path / "large", 60_000)
    # a digest per record kept in memory is over 10 MB more for the 40,000 more records
    assert large - small < 4_000_000, (small, large)
