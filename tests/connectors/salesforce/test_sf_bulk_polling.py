"""Bulk API 2.0 ingest spends few calls: sized polls, no result file when none is needed, and
the success file read as the poll once the org's time per row is known."""

from __future__ import annotations

import logging

import httpx
import pytest
from sf_bulk_jobs import (
    JOB,
    assert_middle_row_failed,
    job_calls,
    job_polls,
    job_setup,
    middle_row_fails,
    submit_upsert,
    success_file,
    upsert,
    upsert_rows,
)
from sf_stubs import API, FakeSleep, StrictStub, json_response, sf_error

from tandem.connectors.salesforce import bulk as bulk_module
from tandem.connectors.salesforce.bulk import BulkApi
from tandem.connectors.salesforce.client import SaveResult


def update_rows(n: int) -> list[list[str]]:
    return [[f"001{i:05d}", "x"] for i in range(n)]


async def update(bulk: BulkApi, rows: list[list[str]]) -> list[SaveResult | None]:
    return await bulk.ingest("Account", "update", ["Id", "Phone"], rows, key_column="Id")


async def test_clean_update_job_needs_no_result_file(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    job_calls(
        stub,
        {"state": "JobComplete", "numberRecordsProcessed": 3, "numberRecordsFailed": 0},
    )
    rows = [["001A", "x"], ["001B", "y"], ["001C", "z"]]
    results = await update(bulk, rows)
    assert results == [SaveResult("001A", True), SaveResult("001B", True), SaveResult("001C", True)]
    assert fake_sleep.delays == [0.5]  # waited before the first poll, polled once
    stub.assert_used()
    assert not stub.calls("GET", f"{JOB}/successfulResults/")


async def test_polls_follow_the_jobs_progress_and_the_next_job_waits_its_size(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    done = {"state": "JobComplete", "numberRecordsFailed": 0, "totalProcessingTime": 1000}
    job_calls(
        stub,
        {"state": "InProgress", "numberRecordsProcessed": 5000},
        {**done, "numberRecordsProcessed": 10000},
    )
    rows = update_rows(10000)
    await update(bulk, rows)
    # Half done after 0.5 s: the rest should take as long again, plus a margin.
    assert fake_sleep.delays == [0.5, pytest.approx(0.5 * 1.15)]
    # The org reported 1 s for 10,000 rows: a job twice that size waits twice that first.
    job_calls(stub, {**done, "numberRecordsProcessed": 20000})
    rows = update_rows(20000)
    await update(bulk, rows)
    assert fake_sleep.delays[2:] == [pytest.approx(2.0 * 1.15)]
    stub.assert_used()


async def test_upsert_results_are_matched_by_key_and_failures_read_only_when_reported(
    stub: StrictStub, bulk: BulkApi
) -> None:
    job_calls(
        stub,
        {"state": "InProgress", "numberRecordsProcessed": 0},
        {"state": "JobComplete", "numberRecordsProcessed": 3, "numberRecordsFailed": 1},
    )
    success = '"sf__Id","sf__Created",ERP_Id__c,Name\n"001X","true",E-2,"B, Inc."\n'
    success += '"001Y","false",E-1,A\n'
    failed = '"sf__Id","sf__Error",ERP_Id__c,Name\n"","REQUIRED_FIELD_MISSING:gone:Name --",E-3,\n'
    stub.on("GET", f"{JOB}/successfulResults/", httpx.Response(200, text=success))
    stub.on("GET", f"{JOB}/failedResults/", httpx.Response(200, text=failed))
    rows = [["E-1", "A"], ["E-2", "B, Inc."], ["E-3", ""]]
    results = await upsert(bulk, rows)
    assert [(r.id, r.success, r.created) for r in results if r is not None] == [
        ("001Y", True, False),
        ("001X", True, True),
        (None, False, False),
    ]
    error = results[2].errors[0] if results[2] is not None else None
    assert error is not None and error.code == "REQUIRED_FIELD_MISSING"
    assert error.fields == ("Name",)
    stub.assert_used()


# --- the success file as the poll, once the org's time per row is known ----------------------


def upsert_job_at_a_known_rate(stub: StrictStub, bulk: BulkApi, n: int) -> list[list[str]]:
    """``n`` upsert rows, the org's time per row known (0.1 ms), and the job's create, upload
    and close answered."""
    bulk.seconds_per_row = 1e-4
    job_setup(stub)
    return upsert_rows(n)


async def test_known_rate_reads_the_success_file_as_the_poll(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    rows = upsert_job_at_a_known_rate(stub, bulk, 10000)
    stub.on("GET", f"{JOB}/successfulResults/", success_file(rows))
    results = await upsert(bulk, rows)
    assert results[0] == SaveResult("00100000", True, True)
    assert all(r is not None and r.success and r.id for r in results)
    # 10,000 rows at 0.1 ms, with the results margin; then the file, no job info at all.
    assert fake_sleep.delays == [pytest.approx(1.25)]
    assert not stub.calls("GET", JOB)
    assert bulk.client.governor.calls_made == 4
    assert bulk.seconds_per_row == 1e-4  # a job done in time teaches nothing new
    stub.assert_used()


@pytest.mark.parametrize(
    "too_early",
    [
        sf_error(412, "JOB_NOT_COMPLETE", "Job is InProgress: results are not ready"),
        sf_error(400, "INVALIDJOBSTATE", "Job is not in a final state"),
        httpx.Response(412, text="Precondition Failed"),
    ],
    ids=["412", "400-INVALIDJOBSTATE", "412-without-code"],
)
async def test_results_asked_too_early_fall_back_to_polling_the_job(
    stub: StrictStub,
    bulk: BulkApi,
    fake_sleep: FakeSleep,
    caplog: pytest.LogCaptureFixture,
    too_early: httpx.Response,
) -> None:
    caplog.set_level(logging.INFO, logger="tandem")
    rows = upsert_job_at_a_known_rate(stub, bulk, 10000)
    stub.on("GET", f"{JOB}/successfulResults/", [too_early, success_file(rows)])
    job_polls(stub, {"state": "InProgress", "numberRecordsProcessed": 5000})
    results = await upsert(bulk, rows)
    assert all(r is not None and r.success and r.id for r in results)
    # The refusal was the first poll: the job is read at once, and its progress (half done
    # after 1.25 s) says when it will be done; the success file is asked for again then, not
    # a poll that would find the job done before the file is read.
    assert fake_sleep.delays == [pytest.approx(1.25), pytest.approx(1.25 * 1.15)]
    assert len(stub.calls("GET", f"{JOB}/successfulResults/")) == 2  # the refusal: no retry
    assert bulk.client.governor.calls_made == 6  # create, upload, close, file, poll, file
    assert bulk.seconds_per_row == pytest.approx(2.5 / 10000)  # by the job's own progress
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    stub.assert_used()


async def test_a_short_success_file_asks_the_job_then_reads_the_failures(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    rows = upsert_job_at_a_known_rate(stub, bulk, 3)
    stub.on("GET", f"{JOB}/successfulResults/", success_file([rows[0], rows[2]]))
    job_polls(stub, {"state": "JobComplete", "numberRecordsProcessed": 3, "numberRecordsFailed": 1})
    middle_row_fails(stub)
    assert_middle_row_failed(await upsert(bulk, rows))
    assert fake_sleep.delays == [0.5]  # the floor; the job read at once after the file
    assert len(stub.calls("GET", f"{JOB}/successfulResults/")) == 1  # it was complete
    stub.assert_used()


async def test_a_partial_success_file_of_a_running_job_is_read_again(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    rows = upsert_job_at_a_known_rate(stub, bulk, 3)
    stub.on("GET", f"{JOB}/successfulResults/", [success_file(rows[:1]), success_file(rows)])
    job_polls(stub, {"state": "InProgress", "numberRecordsProcessed": 1})
    results = await upsert(bulk, rows)
    assert [r.id for r in results if r is not None] == ["00100000", "00100001", "00100002"]
    # the job polled at once (a third done), the file asked for again when that says it is done
    assert len(fake_sleep.delays) == 2
    assert bulk.client.governor.calls_made == 6
    stub.assert_used()


async def test_update_job_with_a_known_rate_still_polls_the_job_once(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    bulk.seconds_per_row = 1e-4
    job_calls(
        stub,
        {"state": "JobComplete", "numberRecordsProcessed": 10000, "numberRecordsFailed": 0},
    )
    rows = update_rows(10000)
    results = await update(bulk, rows)
    assert all(r is not None and r.success for r in results)
    assert fake_sleep.delays == [pytest.approx(1e-4 * 10000 * 1.15)]
    assert not stub.calls("GET", f"{JOB}/successfulResults/")
    stub.assert_used()


async def test_the_rate_is_learned_from_the_orgs_clock_queueing_included(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    stub.on("POST", f"{API}/jobs/ingest", json_response({"id": "750B", "state": "Open"}))
    stub.on("PUT", f"{JOB}/batches", httpx.Response(201))
    closed = {"id": "750B", "state": "UploadComplete"}
    stub.on("PATCH", JOB, json_response({**closed, "systemModstamp": "2024-05-01T10:00:00.000Z"}))
    waiting = {"id": "750B", "state": "UploadComplete", "numberRecordsProcessed": 0}
    done = {
        "id": "750B",
        "state": "JobComplete",
        "numberRecordsProcessed": 10000,
        "numberRecordsFailed": 0,
        "totalProcessingTime": 1000,  # processing alone; it sat in the queue for 2 s first
        "systemModstamp": "2024-05-01T10:00:03.000+0000",
    }
    stub.on("GET", JOB, [json_response(waiting)] * 3 + [json_response(done)])
    rows = update_rows(10000)
    await update(bulk, rows)
    assert fake_sleep.delays == [0.5, 1.0, 2.0, 4.0]
    assert bulk.seconds_per_row == pytest.approx(3.0 / 10000)
    stub.assert_used()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_the_rate_takes_only_a_positive_number(bulk: BulkApi, bad: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        bulk.seconds_per_row = bad
    bulk.seconds_per_row = 2e-5
    assert bulk.seconds_per_row == 2e-5
    bulk.seconds_per_row = None
    assert bulk.seconds_per_row is None


async def test_each_operation_keeps_its_own_time_per_row(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    # Upserts were measured fast; an update job is polled by the general rate first and
    # then, in later jobs, by its own (slower) pace.
    bulk.learn_rate("upsert", 1e-5)
    bulk.seconds_per_row = 1e-5
    done = {"state": "JobComplete", "numberRecordsFailed": 0, "totalProcessingTime": 1200}
    job_calls(
        stub,
        {"state": "InProgress", "numberRecordsProcessed": 0},
        {**done, "numberRecordsProcessed": 10000},
    )
    rows = update_rows(10000)
    await update(bulk, rows)
    assert bulk.operation_rates == {"upsert": 1e-5, "update": pytest.approx(1.2e-4)}
    job_calls(stub, {**done, "numberRecordsProcessed": 10000})
    await update(bulk, rows)
    assert fake_sleep.delays[-1] == pytest.approx(1.2e-4 * 10000 * 1.15)
    with pytest.raises(ValueError, match="positive"):
        bulk.learn_rate("update", 0)
    stub.assert_used()


async def test_a_rate_borrowed_from_another_operation_is_given_more_room(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    # Only upserts were timed: the first update job waits longer than its rows at that pace
    # (an update may take longer a row), so one poll finds it done; later update jobs go by
    # their own pace and the usual margin.
    bulk.learn_rate("upsert", 1e-4)
    bulk.seconds_per_row = 1e-4
    done = {"state": "JobComplete", "numberRecordsFailed": 0, "totalProcessingTime": 1300}
    job_calls(stub, {**done, "numberRecordsProcessed": 10000})
    rows = update_rows(10000)
    await update(bulk, rows)
    assert fake_sleep.delays == [pytest.approx(1e-4 * 10000 * 1.6)]
    assert len(stub.calls("GET", JOB)) == 1
    job_calls(stub, {**done, "numberRecordsProcessed": 10000})
    await update(bulk, rows)
    assert fake_sleep.delays[-1] == pytest.approx(1.3e-4 * 10000 * 1.15)
    stub.assert_used()


async def test_a_job_queued_behind_another_is_timed_from_when_that_one_was_done(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    # Handed over while the org still works on the job before it: its time runs from when
    # that one was seen done, so its success file is not asked for too early.
    rows = upsert_job_at_a_known_rate(stub, bulk, 10000)
    stub.on("GET", f"{JOB}/successfulResults/", success_file(rows))
    job = await submit_upsert(bulk, rows)
    bulk._seen_done = job.clock.started + 2.0  # the job before ended 2 s after this close
    results = await bulk.collect(job)
    assert all(r is not None and r.success for r in results)
    assert fake_sleep.delays == [pytest.approx(2.0 + 1.25, abs=0.05)]
    assert len(stub.calls("GET", f"{JOB}/successfulResults/")) == 1
    stub.assert_used()


# --- the results margin, learned ---------------------------------------------------------------


class Ticking:
    """A monotonic clock that the sleeps advance, and the sleeps asked for."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds


@pytest.fixture
def ticking(bulk: BulkApi, monkeypatch: pytest.MonkeyPatch) -> Ticking:
    clock = Ticking()
    monkeypatch.setattr(bulk_module.time, "monotonic", clock.monotonic)
    bulk.client.sleep = clock.sleep
    return clock


async def test_jobs_found_done_at_the_first_ask_take_back_part_of_the_margin(
    stub: StrictStub, bulk: BulkApi, ticking: Ticking
) -> None:
    rows = upsert_rows(10000)
    bulk.learn_rate("upsert", 1e-4)
    margins = []
    for _ in range(4):
        job_setup(stub)
        stub.on("GET", f"{JOB}/successfulResults/", success_file(rows))
        await upsert(bulk, rows)
        margins.append(bulk.results_margin)
    # 1 s of projected work each; the room above it shrinks to 70% after each job in time.
    assert ticking.delays == [pytest.approx(w) for w in (1.25, 1.175, 1.1225, 1.1)]
    assert margins == [pytest.approx(m) for m in (1.175, 1.1225, 1.1, 1.1)]
    # The floor: an org's pace varies a little from job to job; a refused ask costs two calls.
    assert bulk.results_margin == 1.1
    assert bulk.client.governor.calls_made == 4 * 4  # every job: create, upload, close, file
    stub.assert_used()


async def test_a_refused_ask_gives_the_margin_back_twice_over(
    stub: StrictStub, bulk: BulkApi, ticking: Ticking
) -> None:
    rows = upsert_rows(10000)
    bulk.learn_rate("upsert", 1e-4)
    bulk.results_margin = 1.1
    job_setup(stub)
    too_early = sf_error(412, "JOB_NOT_COMPLETE", "Job is InProgress: results are not ready")
    stub.on("GET", f"{JOB}/successfulResults/", [too_early, success_file(rows)])
    done = {"state": "JobComplete", "numberRecordsProcessed": 10000, "numberRecordsFailed": 0}
    job_polls(stub, done)
    await upsert(bulk, rows)
    assert ticking.delays[0] == pytest.approx(1.1)
    assert bulk.results_margin == pytest.approx(1.2)
    stub.assert_used()


async def test_a_job_queued_behind_one_found_done_late_is_timed_from_that_ones_projection(
    stub: StrictStub, bulk: BulkApi, ticking: Ticking
) -> None:
    # Two jobs handed over back to back: the second queues behind the first. The first is
    # found done at its first ask, 1.25 s after its close, though projected to end after 1 s:
    # the second is timed from that projection, not from when the first was found done.
    rows = upsert_rows(10000)
    bulk.learn_rate("upsert", 1e-4)
    for _ in range(2):
        job_setup(stub)
    stub.on("GET", f"{JOB}/successfulResults/", success_file(rows), times=2)
    first, second = [await submit_upsert(bulk, rows) for _ in range(2)]
    await bulk.collect(first)
    assert ticking.delays == [pytest.approx(1.25)]
    await bulk.collect(second)
    # Queued until 1 s after the close (the first one's projected end), then 1 s of its own
    # with the margin the first job left (1.175): asked 2.175 s after its close, 0.925 s on.
    assert ticking.now - second.clock.started == pytest.approx(2.175)
    assert ticking.delays[1] == pytest.approx(0.925)
    stub.assert_used()


async def test_a_job_seen_done_by_a_late_poll_times_the_next_from_its_own_end(
    stub: StrictStub, bulk: BulkApi, ticking: Ticking
) -> None:
    # Two jobs handed over at once; the first one's poll comes 0.5 s after the close, but
    # the org stamped it done 0.45 s after: the second one queued only that long behind it.
    for _ in range(2):
        job_setup(stub, closed_at="2026-11-29T09:00:00.000+0000")
    done = {"state": "JobComplete", "numberRecordsProcessed": 10000, "numberRecordsFailed": 0}
    job_polls(stub, {**done, "systemModstamp": "2026-11-29T09:00:00.450+0000"})
    rows = upsert_rows(10000)
    stub.on("GET", f"{JOB}/successfulResults/", success_file(rows), times=2)
    first, second = await submit_upsert(bulk, rows), await submit_upsert(bulk, rows)
    await bulk.collect(first)
    assert bulk.seconds_per_row == pytest.approx(0.45 / 10000)
    await bulk.collect(second)
    # Its file is asked for 0.45 s (queued) + 0.5625 s (its rows at that pace, x1.25) after
    # its close, of which 0.5 s passed while the first one was waited for (timed from the
    # poll, it would wait 0.05 s longer).
    assert ticking.delays == [0.5, pytest.approx(0.45 + 0.45 * 1.25 - 0.5)]
    assert len(stub.calls("GET", f"{JOB}/successfulResults/")) == 2
    stub.assert_used()
