"""An insert or upsert job whose org pace is not known yet is polled until its progress says
when it will be done; then its success file is asked for, not a poll that would find the job
done before the file is read: one call fewer a job."""

from __future__ import annotations

import pytest
from sf_bulk_jobs import (
    JOB,
    assert_middle_row_failed,
    job_calls,
    job_polls,
    job_setup,
    middle_row_fails,
    success_file,
    upsert,
    upsert_rows,
)
from sf_stubs import FakeSleep, StrictStub, sf_error

from tandem.connectors.salesforce.bulk import BulkApi

FILE = f"{JOB}/successfulResults/"
TOO_EARLY = sf_error(412, "JOB_NOT_COMPLETE", "Job is InProgress: results are not ready")


async def test_a_first_job_is_polled_once_then_its_file_read_and_the_next_job_not_polled(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    assert bulk.seconds_per_row is None
    rows = upsert_rows(10000)
    job_calls(stub, {"state": "InProgress", "numberRecordsProcessed": 5000})
    stub.on("GET", FILE, success_file(rows))
    results = await upsert(bulk, rows)
    assert all(r is not None and r.success and r.id for r in results)
    # Half done at the first poll (0.5 s): done in as long again, with a margin; then the file.
    assert fake_sleep.delays == [0.5, pytest.approx(0.5 * 1.15)]
    assert bulk.client.governor.calls_made == 5  # create, upload, close, poll, file
    # The org's pace, from that progress: 0.5 s for 5,000 rows.
    assert bulk.seconds_per_row == pytest.approx(1e-4)
    assert bulk.operation_rates == {"upsert": pytest.approx(1e-4)}

    # The next job is timed by it: its file is the poll.
    job_setup(stub)
    stub.on("GET", FILE, success_file(rows))
    await upsert(bulk, rows)
    assert fake_sleep.delays[2:] == [pytest.approx(1e-4 * 10000 * 1.25)]
    assert bulk.client.governor.calls_made == 5 + 4
    stub.assert_used()


async def test_a_file_refused_at_the_projected_end_is_followed_by_a_poll_at_once(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    rows = upsert_rows(10000)
    job_calls(
        stub,
        {"state": "InProgress", "numberRecordsProcessed": 2000},
        {"state": "InProgress", "numberRecordsProcessed": 9000},
    )
    stub.on("GET", FILE, [TOO_EARLY, success_file(rows)])
    results = await upsert(bulk, rows)
    assert all(r is not None and r.success for r in results)
    # 2,000 rows in 0.5 s: 8,000 more take 2 s (x1.15); refused then, the job is read at
    # once (9,000 rows in 2.8 s) and the file asked for when the last 1,000 should be done
    # (0.36 s: the 0.5 s floor).
    first = 8000 * 0.5 / 2000 * 1.15
    elapsed = 0.5 + first
    assert 1000 * elapsed / 9000 * 1.15 < 0.5
    assert fake_sleep.delays == [0.5, pytest.approx(first), 0.5]
    assert bulk.client.governor.calls_made == 7  # create, upload, close, poll, file, poll, file
    assert bulk.seconds_per_row == pytest.approx(elapsed / 9000)
    stub.assert_used()


async def test_a_short_file_at_the_projected_end_reads_the_job_and_its_failures(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    rows = upsert_rows(3)
    job_calls(
        stub,
        {"state": "InProgress", "numberRecordsProcessed": 1},
        {"state": "JobComplete", "numberRecordsProcessed": 3, "numberRecordsFailed": 1},
    )
    stub.on("GET", FILE, success_file([rows[0], rows[2]]))
    middle_row_fails(stub)
    assert_middle_row_failed(await upsert(bulk, rows))
    assert len(stub.calls("GET", FILE)) == 1  # not read again: it held every saved row
    assert bulk.client.governor.calls_made == 7  # create, upload, close, poll, file, poll, failed
    stub.assert_used()


async def test_a_job_without_progress_at_a_poll_is_polled_again_not_asked_for_its_file(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    rows = upsert_rows(10)
    job_calls(
        stub,
        {"state": "UploadComplete", "numberRecordsProcessed": 0},
        {"state": "JobComplete", "numberRecordsProcessed": 10, "numberRecordsFailed": 0},
    )
    stub.on("GET", FILE, success_file(rows))
    await upsert(bulk, rows)
    # nothing to project from: the wait doubles, and the job found done is then read
    assert fake_sleep.delays == [0.5, 1.0]
    assert bulk.client.governor.calls_made == 6  # create, upload, close, poll, poll, file
    stub.assert_used()


async def test_the_pace_learned_from_progress_is_the_orgs_time_for_the_rows_it_saved(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    # The org stamps the job as each chunk ends: 10,000 rows were saved 0.3 s after the
    # close, though the poll came 0.5 s after it (the second chunk still running).
    job_setup(stub, closed_at="2026-11-29T09:00:00.000+0000")
    chunk_saved = "2026-11-29T09:00:00.300+0000"
    job_polls(
        stub,
        {"state": "InProgress", "numberRecordsProcessed": 10000, "systemModstamp": chunk_saved},
    )
    rows = upsert_rows(20000)
    stub.on("GET", FILE, success_file(rows))
    await upsert(bulk, rows)
    assert bulk.client.governor.calls_made == 5
    assert bulk.seconds_per_row == pytest.approx(0.3 / 10000)  # not 0.5 s for 10,000
