"""A target that takes work and answers later: batch k settles while k+1 is planned."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from memory_connector import MemoryConnector
from memory_engine import memory_engine

from tandem.connectors.base import EntityBinding, Submitter, WriteOp, WriteOutcome
from tandem.errors import Retriable
from tandem.pipeline.batch import BatchProcessor
from tandem.pipeline.engine import Engine
from tandem.pipeline.events import BatchDone, Event, EventBus
from tandem.pipeline.outcome import BatchCommitter

FLOW = """
version: 1
name: handover
state: sqlite:///{state}
defaults: {{batch_size: 2, initial_batch_size: 2}}
connections:
  erp: {{type: sql, url: "sqlite://"}}
  crm: {{type: sql, url: "sqlite://"}}
entities:
  customer:
    model: customer
    direction: erp_to_crm
    erp: {{source: customers, key: id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id}}
    fields:
      - {{field: name, erp: name, crm: Name}}
"""


class LaterCrm(MemoryConnector):
    """Takes a batch at once and applies it when its outcomes are asked for."""

    def __init__(self, log: list[str]) -> None:
        super().__init__("crm", key_prefix="001")
        self.log = log
        self.submitted = 0
        self.fail_collect: int | None = None

    async def submit_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
        self.submitted += 1
        number = self.submitted
        self.log.append(f"submit {number}")

        async def collect() -> list[WriteOutcome]:
            self.log.append(f"collect {number}")
            if number == self.fail_collect:
                raise Retriable("the org went away", system="crm", operation="bulk upsert")
            return await self.write_batch(binding, ops)

        return collect


def make(
    tmp_path: Path,
    crm: LaterCrm,
    log: list[str],
    *,
    batch: int = 2,
    initial: int = 2,
    rows: int = 6,
) -> tuple[Engine, MemoryConnector]:
    text = FLOW.replace(
        "{{batch_size: 2, initial_batch_size: 2}}",
        f"{{{{batch_size: {batch}, initial_batch_size: {initial}}}}}",
    )
    bus = EventBus()

    def committed(event: Event) -> None:
        assert isinstance(event, BatchDone)
        log.append(f"commit ({event.written} written)")

    bus.subscribe(committed, BatchDone)
    erp = MemoryConnector("erp")
    for n in range(1, rows + 1):
        erp.put("customers", str(n), {"name": f"Customer {n}"})
    return memory_engine(tmp_path, text, erp, crm, bus=bus), erp


def log_plans(monkeypatch: pytest.MonkeyPatch, log: list[str]) -> None:
    """Log ``plan n`` as the engine plans its n-th batch."""
    real_prepare = BatchProcessor.prepare
    planned: list[int] = []

    async def prepare(self: BatchProcessor, *args: Any, **kwargs: Any) -> Any:
        planned.append(1)
        log.append(f"plan {len(planned)}")
        return await real_prepare(self, *args, **kwargs)

    monkeypatch.setattr(BatchProcessor, "prepare", prepare)


def commits(log: list[str]) -> list[int]:
    return [n for n, line in enumerate(log) if line.startswith("commit")]


async def test_each_batch_settles_while_the_next_is_planned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    crm = LaterCrm(log)
    assert isinstance(crm, Submitter)
    log_plans(monkeypatch, log)
    engine, _ = make(tmp_path, crm, log)
    await engine.prepare()
    report = await engine.sync()
    done = commits(log)
    assert len(done) == 3
    for k, commit in enumerate(done, start=1):
        assert log.index(f"submit {k}") < log.index(f"collect {k}") < commit
    # Batch 2 is planned (and handed over) before batch 1's commit is done; batch 3 only
    # after it: one batch settles while the next is planned, never two.
    assert log.index("plan 2") < log.index("submit 2") < done[0] < log.index("plan 3")
    assert log.index("plan 3") < done[1] < done[2]
    assert report.total("created") == 6
    assert sorted(r["ERP_Id"] for r in crm.records["Account"].values()) == list("123456")
    again = await engine.sync()
    assert again.writes == 0 and crm.submitted == 3


async def test_a_failed_collect_keeps_the_committed_batches_and_the_rest_comes_next_pass(
    tmp_path: Path,
) -> None:
    log: list[str] = []
    crm = LaterCrm(log)
    crm.fail_collect = 2
    engine, _ = make(tmp_path, crm, log)
    await engine.prepare()
    with pytest.raises(Retriable):
        await engine.sync()
    # Batch 1 was committed; batch 2 never came back. A batch handed over after it is let
    # land but not committed, since its cursor would pass batch 2's records.
    assert log.count("commit (2 written)") == 1 and "collect 2" in log
    assert log.index("commit (2 written)") < log.index("collect 2")
    if "submit 3" in log:
        assert "collect 3" in log
    assert len(engine.store.synced("customer", "erp", list("123456"))) == 2
    cursor = engine.store.cursor("handover", "customer", "erp")
    assert cursor is not None and cursor.key == "2"
    crm.fail_collect = None
    await engine.sync()
    assert sorted(r["ERP_Id"] for r in crm.records["Account"].values()) == list("123456")
    assert len(engine.store.synced("customer", "erp", list("123456"))) == 6


async def test_a_failed_commit_lets_no_later_batch_commit_past_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tandem.errors import StoreError

    log: list[str] = []
    crm = LaterCrm(log)
    engine, _ = make(tmp_path, crm, log)
    await engine.prepare()
    store = engine.store
    real_save = store.save_synced
    saves: list[int] = []

    def fails_second(states: object) -> None:
        saves.append(1)
        if len(saves) == 2:
            raise StoreError("state store: save synced state failed: disk full")
        real_save(states)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "save_synced", fails_second)
    with pytest.raises(StoreError, match="disk full"):
        await engine.sync()
    # Batch 3 was with the target when batch 2's commit failed: it lands in the CRM, but its
    # state (and its cursor, past batch 2's records) is not committed.
    # Batches 2 and 3 reached the CRM (batch 2 before its commit failed); only batch 1's
    # state is committed.
    assert "submit 3" in log and "collect 3" in log
    assert sorted(r["ERP_Id"] for r in crm.records["Account"].values()) == list("123456")
    assert len(store.synced("customer", "erp", list("123456"))) == 2
    cursor = store.cursor("handover", "customer", "erp")
    assert cursor is not None and cursor.key == "2"
    monkeypatch.setattr(store, "save_synced", real_save)
    await engine.sync()
    # The next pass re-sends batches 2 and 3 as idempotent upserts: every record once.
    erp_ids = sorted(r["ERP_Id"] for r in crm.records["Account"].values())
    assert erp_ids == list("123456")
    assert len(store.synced("customer", "erp", list("123456"))) == 6


async def test_an_initial_load_starts_with_one_batch_of_batch_size(tmp_path: Path) -> None:
    """The target gets a small first batch while the rest is read; then bulk-sized ones."""
    log: list[str] = []
    crm = LaterCrm(log)
    engine, erp = make(tmp_path, crm, log, batch=1, initial=3, rows=7)
    await engine.prepare()
    report = await engine.sync()
    assert [line for line in log if line.startswith("commit")] == [
        "commit (1 written)",
        "commit (3 written)",
        "commit (3 written)",
    ]
    assert report.total("created") == 7
    # Later passes have a cursor: batches of batch_size throughout.
    log.clear()
    erp.put("customers", "2", {"name": "Customer 2b"})
    erp.put("customers", "5", {"name": "Customer 5b"})
    again = await engine.sync()
    assert again.total("updated") == 2
    assert [line for line in log if line.startswith("commit")] == ["commit (1 written)"] * 2


async def test_a_hand_over_moves_on_while_the_batch_before_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit runs off the event loop, so the next batch's hand-over (its round trips)
    goes on meanwhile: batch 1's commit waits for batch 2 to be handed over, and gets it."""
    log: list[str] = []
    handed = threading.Event()

    class RoundTrips(LaterCrm):
        async def submit_batch(
            self, binding: EntityBinding, ops: Sequence[WriteOp]
        ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
            collect = await super().submit_batch(binding, ops)
            await asyncio.sleep(0)  # a round trip: the hand-over needs the loop once more
            if self.submitted == 2:
                handed.set()
            return collect

    real_commit = BatchCommitter.commit
    waits: list[bool] = []

    def commit(self: BatchCommitter, *args: Any) -> None:
        if not waits:  # batch 1: batch 2's hand-over is under way
            waits.append(handed.wait(10))
        real_commit(self, *args)

    monkeypatch.setattr(BatchCommitter, "commit", commit)
    crm = RoundTrips(log)
    engine, _ = make(tmp_path, crm, log)
    await engine.prepare()
    report = await engine.sync()
    assert waits == [True]
    assert report.total("created") == 6
    assert log.index("submit 2") < log.index("commit (2 written)")


async def test_a_failed_hand_over_stops_the_batches_after_it(tmp_path: Path) -> None:
    """Batch 2's job cannot be created: batch 1 is committed, batch 3 is never handed over,
    and the next pass sends batches 2 and 3."""
    log: list[str] = []

    class FailsSecond(LaterCrm):
        fail = True

        async def submit_batch(
            self, binding: EntityBinding, ops: Sequence[WriteOp]
        ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
            if self.submitted == 1 and self.fail:
                self.log.append("submit 2 refused")
                raise Retriable("the org went away", system="crm", operation="create job")
            return await super().submit_batch(binding, ops)

    crm = FailsSecond(log)
    engine, _ = make(tmp_path, crm, log)
    await engine.prepare()
    with pytest.raises(Retriable):
        await engine.sync()
    # Batch 1 settles; nothing is handed over after the refused batch.
    assert [line for line in log if line.startswith("submit")] == ["submit 1", "submit 2 refused"]
    assert log.count("commit (2 written)") == 1
    assert len(engine.store.synced("customer", "erp", list("123456"))) == 2
    crm.fail = False
    await engine.sync()
    assert sorted(r["ERP_Id"] for r in crm.records["Account"].values()) == list("123456")
    assert len(engine.store.synced("customer", "erp", list("123456"))) == 6
