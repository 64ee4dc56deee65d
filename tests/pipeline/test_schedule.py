"""Per-entity schedules: the timetable on a hand-moved clock, then `Engine.run` in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import pytest
from memory_connector import MemoryConnector
from memory_engine import memory_engine

from tandem.config import ContinuousSchedule, IntervalSchedule, Schedule, parse_flow
from tandem.connectors.base import (
    EntityBinding,
    EntitySchema,
    FieldInfo,
    WriteOp,
    WriteOutcome,
)
from tandem.errors import ConfigError, Retriable
from tandem.pipeline import schedule
from tandem.pipeline.engine import Engine
from tandem.pipeline.report import PassReport
from tandem.pipeline.schedule import MAX_BACKOFF_SECONDS, Timetable, backoff

FLOW = """
version: 1
name: sched
state: sqlite:///{state}
connections:
  erp: {{type: sql, url: "sqlite://"}}
  crm: {{type: sql, url: "sqlite://"}}
defaults:
  schedule: {{mode: continuous, poll_seconds: 3600}}
entities:
  customer:
    model: customer
    direction: erp_to_crm
    erp: {{source: customers, key: id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id}}
    fields:
      - {{field: name, erp: name, crm: Name}}
  product:
    model: product
    direction: erp_to_crm
    schedule: {{mode: interval, seconds: 3600}}
    erp: {{source: products, key: id}}
    crm: {{source: Product2, key: Id, external_id: ERP_Id}}
    fields:
      - {{field: code, erp: code, crm: ProductCode}}
      - {{field: name, erp: name, crm: Name}}
"""


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def interval(seconds: float) -> IntervalSchedule:
    return IntervalSchedule(mode="interval", seconds=seconds)


def continuous(poll_seconds: float) -> ContinuousSchedule:
    return ContinuousSchedule(mode="continuous", poll_seconds=poll_seconds)


def timetable(schedules: dict[str, Schedule]) -> tuple[Timetable, Clock]:
    clock = Clock()
    return Timetable(schedules, clock=clock), clock


def run_pass(table: Timetable, clock: Clock, names: Sequence[str], seconds: float) -> None:
    """A pass over ``names`` that starts now and lasts ``seconds``."""
    table.started(names)
    clock.now += seconds
    table.finished(names)


def test_every_entity_is_due_before_its_first_pass() -> None:
    table, _ = timetable({"customer": continuous(1.0), "product": interval(60.0)})
    assert table.due() == ["customer", "product"]
    assert table.until_due() == 0.0


def test_interval_entities_are_not_woken_by_change_signals() -> None:
    table, clock = timetable({"product": interval(60.0)})
    run_pass(table, clock, ["product"], 1.0)
    assert not table.listens()
    table.signal()
    assert table.due() == []
    assert table.until_due() == 59.0


def test_an_interval_entity_is_due_seconds_after_its_last_pass_started() -> None:
    table, clock = timetable({"product": interval(60.0)})
    clock.now = 100.0
    run_pass(table, clock, ["product"], 45.0)  # ends at 145
    assert table.until_due() == 15.0
    clock.now = 159.5
    assert table.due() == []
    clock.now = 160.0  # 60 s after the start, 15 s after the end
    assert table.due() == ["product"]


def test_continuous_entities_run_on_a_signal_or_after_the_poll_interval() -> None:
    table, clock = timetable({"customer": continuous(30.0)})
    run_pass(table, clock, ["customer"], 2.0)  # ends at 2
    assert table.listens()
    assert table.due() == []
    assert table.until_due() == 30.0
    clock.now = 5.0
    table.signal()
    assert table.due() == ["customer"]
    assert table.until_due() == 0.0
    run_pass(table, clock, ["customer"], 1.0)  # the pass answers the signal; ends at 6
    assert table.due() == []
    clock.now = 36.0
    assert table.due() == ["customer"]


def test_only_the_entities_that_are_due_are_named() -> None:
    table, clock = timetable(
        {"customer": continuous(3600.0), "contact": interval(10.0), "product": interval(60.0)}
    )
    run_pass(table, clock, table.due(), 1.0)
    clock.now = 5.0
    table.signal()
    assert table.due() == ["customer"]
    run_pass(table, clock, ["customer"], 1.0)
    clock.now = 10.0
    assert table.due() == ["contact"]
    run_pass(table, clock, ["contact"], 1.0)
    clock.now = 60.0
    table.signal()
    assert table.due() == ["customer", "contact", "product"]


def test_a_transient_failure_holds_the_entities_back_then_retries_them_together() -> None:
    table, clock = timetable({"customer": continuous(1.0), "product": interval(60.0)})
    run_pass(table, clock, ["customer", "product"], 1.0)
    clock.now = 60.0
    due = table.due()
    assert due == ["customer", "product"]
    table.started(due)
    assert table.failed(due) == 2.0
    assert not table.listens()
    table.signal()  # a signal does not cut the backoff short
    clock.now = 61.9
    assert table.due() == []
    assert table.until_due() == pytest.approx(0.1)
    clock.now = 62.0
    assert table.due() == ["customer", "product"]
    table.started(due)
    assert table.failed(due) == 4.0  # doubles with each failure in a row
    clock.now = 66.0
    table.started(due)
    assert table.failed(due, retry_after=30.0) == 30.0  # what the system asked for
    clock.now = 96.0
    run_pass(table, clock, table.due(), 1.0)
    table.started(["customer"])
    assert table.failed(["customer"]) == 2.0  # a pass that ended well resets the count


def test_the_backoff_is_capped() -> None:
    assert backoff(1, None) == 2.0
    assert backoff(3, 1.0) == 8.0
    assert backoff(20, None) == MAX_BACKOFF_SECONDS
    assert backoff(5000, None) == MAX_BACKOFF_SECONDS
    assert backoff(1, 10_000.0) == MAX_BACKOFF_SECONDS


def test_an_entity_without_a_schedule_takes_the_flows_default(tmp_path: Path) -> None:
    flow = parse_flow(FLOW.format(state=tmp_path / "state.db"), base_dir=tmp_path)
    clock = Clock()
    table = Timetable.of(flow, clock=clock)
    run_pass(table, clock, table.due(), 1.0)
    assert table.listens()  # customer: continuous, from defaults
    table.signal()
    assert table.due() == ["customer"]  # product: its own interval schedule
    clock.now = 3600.0
    assert table.due() == ["customer", "product"]


class SignallingConnector(MemoryConnector):
    """A memory system that signals a change when the test says so (as LISTEN/NOTIFY would)."""

    def __init__(self, system: str) -> None:
        super().__init__(system)
        self.changed = asyncio.Event()

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except TimeoutError:
            return False
        self.changed.clear()
        return True


def engine_for(tmp_path: Path) -> tuple[Engine, SignallingConnector, MemoryConnector]:
    erp, crm = SignallingConnector("erp"), MemoryConnector("crm", key_prefix="001")
    return memory_engine(tmp_path, FLOW, erp, crm), erp, crm


def record_passes(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Wrap ``engine.sync``: the entities of each pass, sorted, in the order of the passes."""
    passes: list[list[str]] = []
    sync = engine.sync

    async def recording(
        *, dry_run: bool = False, entities: Sequence[str] | None = None
    ) -> PassReport:
        passes.append(sorted(entities or []))
        return await sync(dry_run=dry_run, entities=entities)

    monkeypatch.setattr(engine, "sync", recording)
    return passes


async def test_run_syncs_continuous_entities_on_each_change_and_interval_ones_on_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, erp, crm = engine_for(tmp_path)
    erp.put("customers", "1", {"name": "Customer 1"})
    erp.put("products", "1", {"code": "P-1", "name": "Widget"})
    await engine.prepare()
    passes = record_passes(engine, monkeypatch)
    stop = asyncio.Event()

    def on_pass(report: PassReport) -> None:
        if len(passes) == 4:
            stop.set()
            return
        n = len(passes) + 1
        erp.put("customers", str(n), {"name": f"Customer {n}"})
        erp.put("products", "1", {"code": "P-1", "name": f"Widget mk {n}"})
        erp.changed.set()

    # A guard against a hang, not a timing assertion: the run ends when on_pass stops it.
    await asyncio.wait_for(engine.run(stop, on_pass=on_pass), timeout=60)
    assert passes == [["customer", "product"], ["customer"], ["customer"], ["customer"]]
    assert sorted(v["Name"] for v in crm.records["Account"].values()) == [
        f"Customer {n}" for n in range(1, 5)
    ]
    # The interval entity ran once: the product's later edits wait for its next interval.
    assert [v["Name"] for v in crm.records["Product2"].values()] == ["Widget"]


async def test_run_retries_the_entities_of_a_failed_pass_after_the_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, erp, crm = engine_for(tmp_path)
    erp.put("customers", "1", {"name": "Customer 1"})
    await engine.prepare()
    passes = record_passes(engine, monkeypatch)
    waits: list[tuple[int, float | None]] = []

    def no_backoff(failures: int, retry_after: float | None) -> float:
        waits.append((failures, retry_after))
        return 0.0  # retry at once: the test needs no wall clock

    monkeypatch.setattr(schedule, "backoff", no_backoff)
    failure = Retriable("busy", system="crm", operation="upsert", retry_after=7.0)
    original = crm.write_batch
    writes = 0

    async def write_once_failing(
        binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        nonlocal writes
        writes += 1
        if writes == 1:
            raise failure
        return await original(binding, ops)

    monkeypatch.setattr(crm, "write_batch", write_once_failing)
    stop = asyncio.Event()
    errors: list[Exception] = []
    await asyncio.wait_for(
        engine.run(stop, on_pass=lambda report: stop.set(), on_error=errors.append), timeout=60
    )
    assert errors == [failure]
    assert waits == [(1, 7.0)]
    assert passes == [["customer", "product"], ["customer", "product"]]
    assert [v["Name"] for v in crm.records["Account"].values()] == ["Customer 1"]


def redescribing_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Engine, SignallingConnector, MemoryConnector]:
    """The memory flow with ``describe_cache_seconds: 10``: a run describes again every 10 s.

    Both memory systems describe their key too, so the mapping fits them as it stands.
    """
    engine, erp, crm = engine_for(tmp_path)
    for connector in (erp, crm):
        monkeypatch.setattr(connector, "describe", _with_key(connector.describe))
    flow = engine.flow.model_copy(update={"describe_cache_seconds": 10.0})
    return Engine(flow, engine.store, engine.systems), erp, crm


def _with_key(
    describe: Callable[[EntityBinding], Awaitable[EntitySchema]],
) -> Callable[[EntityBinding], Awaitable[EntitySchema]]:
    async def described(binding: EntityBinding) -> EntitySchema:
        schema = await describe(binding)
        key = FieldInfo(binding.key, "id", createable=False, updateable=False)
        return EntitySchema(schema.source, {**schema.fields, binding.key: key})

    return described


async def test_a_run_describes_the_systems_again_every_describe_cache_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, erp, crm = redescribing_engine(tmp_path, monkeypatch)
    erp.put("customers", "1", {"name": "Customer 1"})
    assert await engine.prepare() == []
    described: list[str] = []
    describe = crm.describe

    async def counting(binding: EntityBinding) -> EntitySchema:
        described.append(binding.source)
        return await describe(binding)

    monkeypatch.setattr(crm, "describe", counting)
    clock = Clock()
    stop = asyncio.Event()
    passes = 0

    def on_pass(report: PassReport) -> None:
        nonlocal passes
        passes += 1
        clock.now += 6.0  # two passes per describe period
        if passes == 4:
            stop.set()
        erp.put("customers", str(passes + 1), {"name": f"Customer {passes + 1}"})
        erp.changed.set()

    await asyncio.wait_for(engine.run(stop, on_pass=on_pass, clock=clock), timeout=60)
    # passes start at 0, 6, 12 and 18 s: the one at 12 s is the first 10 s past the start, and
    # describes both CRM objects again; the one at 18 s is 6 s past that describe
    assert sorted(described) == ["Account", "Product2"]


async def test_a_run_stops_when_the_mapping_no_longer_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, erp, crm = redescribing_engine(tmp_path, monkeypatch)
    erp.put("customers", "1", {"name": "Customer 1"})
    await engine.prepare()
    describe = crm.describe

    async def without_name(binding: EntityBinding) -> EntitySchema:
        schema = await describe(binding)
        kept = {n: f for n, f in schema.fields.items() if n != "Name"}
        return EntitySchema(schema.source, kept)

    clock = Clock()

    def on_pass(report: PassReport) -> None:
        monkeypatch.setattr(crm, "describe", without_name)  # an admin deletes Account.Name
        clock.now += 11.0
        erp.put("customers", "2", {"name": "Customer 2"})
        erp.changed.set()

    with pytest.raises(ConfigError, match="no longer fits") as stopped:
        await asyncio.wait_for(engine.run(asyncio.Event(), on_pass=on_pass, clock=clock), 60)
    assert "unknown field 'Name'" in str(stopped.value)
    assert [v["Name"] for v in crm.records["Account"].values()] == ["Customer 1"]
