"""A pass that drains the work queue keeps memory bounded however many records are queued.

A reconcile ``--heal`` of many drifted records (a retry of many dead letters) queues them all;
the next pass takes them in chunks and must remember, for the whole pass, which it took (none
is taken twice) and which version of each it tried (the capture does not try it again). Those
are kept on disk past a few thousand records: with four times the records queued, the peak of
the pass must stay about the same. The systems make their records up as they are read, and
forget what is written to them, so what the pass allocates is its own.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest
from memory_connector import T0
from test_reconcile_drift_memory import linked_engine
from test_reconcile_heal_exact import engine_for

from tandem.connectors.base import Change, EntityBinding
from tandem.pipeline import passkeys
from tandem.pipeline.drain import WORK_CHUNK
from tandem.pipeline.passkeys import PassKeys
from tandem.pipeline.tried import TriedVersions
from tandem.store import StateStore

FEW = 2_000
MANY = 8_000


async def peak_of_draining(folder: Path, queued: int) -> int:
    """The peak of Python allocations of a pass that drains ``queued`` records."""
    engine = linked_engine(folder, queued, total=queued)
    store = engine.store
    try:
        store.enqueue(
            flow="mem",
            entity="customer",
            side="erp",
            record_keys=[str(n) for n in range(1, queued + 1)],
            reason="heal",
        )
        tracemalloc.start()
        try:
            report = await engine.sync()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # every queued record was read and synced, and none is left
        assert report.total("updated") == queued
        assert store.due_work("mem", limit=10) == []
    finally:
        store.close()
    return peak


async def test_draining_does_not_grow_with_the_records_queued(tmp_path: Path) -> None:
    few = await peak_of_draining(tmp_path / "few", FEW)
    many = await peak_of_draining(tmp_path / "many", MANY)
    print(f"drain peak: {few / 1e6:.1f} MB at {FEW}, {many / 1e6:.1f} MB at {MANY}")
    assert many < few * 1.25, (few, many)


async def test_a_record_taken_before_is_not_taken_again_when_kept_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every record taken kept on disk: a record with two rows in the queue, one left taken
    by a pass that crashed (its lease run out) and one queued since, is taken once in a pass;
    the second row waits for the next."""
    monkeypatch.setattr(passkeys, "IN_MEMORY", 0)
    engine, erp, _ = engine_for(tmp_path)
    count = WORK_CHUNK + 300
    keys = [str(n) for n in range(1, count + 1)]
    for key in keys:
        erp.put("customers", key, {"name": f"Customer {key}", "phone": None})
    await engine.prepare()
    store = engine.store
    twice = "700"  # taken first, its second row in the second chunk
    store.enqueue(flow="mem", entity="customer", side="erp", record_keys=[twice], reason="old")
    crashed = StateStore(f"sqlite:///{tmp_path / 'state.db'}", lease_seconds=0)
    try:
        (taken,) = crashed.take_work("mem", limit=1)  # its lease is over at once
    finally:
        crashed.close()
    assert taken.record_key == twice
    store.enqueue(flow="mem", entity="customer", side="erp", record_keys=keys, reason="test")
    read: list[str] = []
    original = erp.read_records

    async def reading(binding: EntityBinding, wanted: Sequence[str]) -> dict[str, Change]:
        read.extend(wanted)
        return await original(binding, wanted)

    erp.read_records = reading  # type: ignore[method-assign]

    await engine.sync()

    assert sorted(read, key=int) == keys  # each queued record read once in this pass
    (left,) = store.due_work("mem", limit=100)
    assert left.record_key == twice
    await engine.sync()
    assert store.due_work("mem", limit=100) == []
    assert read.count(twice) == 2


def test_what_is_kept_is_found_wherever_it_is() -> None:
    with PassKeys(in_memory=2) as kept:
        assert not kept
        kept.put("customer", "erp", [("1", b"a"), ("2", b"b")])
        assert not kept.spilled  # two fit in memory
        kept.put("customer", "erp", [("3", b"c"), ("1", b"A"), ("4", {"odd": 1})])
        kept.put("customer", "crm", [("1", b"x")])
        assert kept.spilled
        assert kept.get("customer", "erp", ["1", "2", "3", "4", "5"]) == {
            "1": b"A",
            "2": b"b",
            "3": b"c",
            "4": {"odd": 1},
        }
        assert kept.get("customer", "crm", ["1", "2"]) == {"1": b"x"}
        # a value that cannot go to disk replaces the one there, and a later one replaces it
        kept.put("customer", "erp", [("3", {"odd": 3})])
        kept.put("customer", "erp", [("5", b"e"), ("5", {"odd": 5})])
        assert kept.get("customer", "erp", ["3", "5"]) == {"3": {"odd": 3}, "5": {"odd": 5}}
        kept.discard("customer", "erp", ["1", "3", "9"])
        kept.discard("customer", "crm", ["1"])
        assert kept.get("customer", "erp", ["1", "2", "3"]) == {"2": b"b"}
        assert kept.get("customer", "crm", ["1"]) == {}
        many = [str(n) for n in range(10, 1_300)]  # more than one lookup's worth of keys
        kept.put("contact", "crm", [(key, key.encode()) for key in many])
        assert kept.get("contact", "crm", many) == {key: key.encode() for key in many}
        kept.discard("contact", "crm", many)
        assert kept.get("contact", "crm", many) == {}
    assert not kept
    assert kept.get("customer", "erp", ["2"]) == {}


def test_the_versions_tried_are_left_out_when_kept_on_disk() -> None:
    tried = TriedVersions(dry_run=False, in_memory=1)
    try:
        assert not tried
        queued = {
            "1": Change("1", {"name": "A"}, T0),
            "2": Change("2", {"name": "B"}, T0),
            "3": Change("3", {}, T0, deleted=True),
        }
        tried.note("customer", "erp", queued, [], [], every=True)
        latest = {
            "1": Change("1", {"name": "A"}, T0),  # in memory, read again
            "2": Change("2", {"name": "B2"}, T0),  # on disk, changed since
            "3": Change("3", {}, T0, deleted=True),  # on disk, still deleted
            "4": Change("4", {"name": "D"}, T0),  # never tried
        }
        tried.skip("customer", "erp", latest)
        assert sorted(latest) == ["2", "4"]
        # a capture's batch that needs nothing forgets what was tried of its records
        tried.note("customer", "erp", {"3": Change("3", {"name": "C"}, T0)}, [], [], every=False)
        again = {"3": Change("3", {}, T0, deleted=True)}
        tried.skip("customer", "erp", again)
        assert list(again) == ["3"]
        other = {"1": Change("1", {"name": "A"}, T0)}
        tried.skip("customer", "crm", other)
        assert list(other) == ["1"]
    finally:
        tried.close()
