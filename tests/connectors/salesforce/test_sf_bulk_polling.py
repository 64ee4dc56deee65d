"""Bulk API 2.0 ingest spends few calls: sized polls, no result file when none is needed."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sf_stubs import API, FakeSleep, StrictStub, json_response

from tandem.connectors.salesforce.bulk import BulkApi
from tandem.connectors.salesforce.client import SalesforceClient, SaveResult

JOB = f"{API}/jobs/ingest/750B"


def job_calls(stub: StrictStub, *states: dict[str, object]) -> None:
    """Create, upload and close answers, then one poll answer per state given."""
    stub.on("POST", f"{API}/jobs/ingest", json_response({"id": "750B", "state": "Open"}))
    stub.on("PUT", f"{JOB}/batches", httpx.Response(201))
    stub.on("PATCH", JOB, json_response({"id": "750B", "state": "UploadComplete"}))
    stub.on("GET", JOB, [json_response({"id": "750B", **s}) for s in states])


@pytest.fixture
def bulk(stub: StrictStub, make_client: Callable[..., SalesforceClient]) -> BulkApi:
    stub.token()
    return BulkApi(make_client(bulk_poll_interval=0.5))


async def test_clean_update_job_needs_no_result_file(
    stub: StrictStub, bulk: BulkApi, fake_sleep: FakeSleep
) -> None:
    job_calls(
        stub,
        {"state": "JobComplete", "numberRecordsProcessed": 3, "numberRecordsFailed": 0},
    )
    rows = [["001A", "x"], ["001B", "y"], ["001C", "z"]]
    results = await bulk.ingest("Account", "update", ["Id", "Phone"], rows, key_column="Id")
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
    rows = [[f"001{i:05d}", "x"] for i in range(10000)]
    await bulk.ingest("Account", "update", ["Id", "Phone"], rows, key_column="Id")
    # Half done after 0.5 s: the rest should take as long again, plus a margin.
    assert fake_sleep.delays == [0.5, pytest.approx(0.5 * 1.15)]
    # The org reported 1 s for 10,000 rows: a job twice that size waits twice that first.
    job_calls(stub, {**done, "numberRecordsProcessed": 20000})
    rows = [[f"001{i:05d}", "x"] for i in range(20000)]
    await bulk.ingest("Account", "update", ["Id", "Phone"], rows, key_column="Id")
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
    results = await bulk.ingest(
        "Account",
        "upsert",
        ["ERP_Id__c", "Name"],
        rows,
        key_column="ERP_Id__c",
        external_id="ERP_Id__c",
    )
    assert [(r.id, r.success, r.created) for r in results if r is not None] == [
        ("001Y", True, False),
        ("001X", True, True),
        (None, False, False),
    ]
    error = results[2].errors[0] if results[2] is not None else None
    assert error is not None and error.code == "REQUIRED_FIELD_MISSING"
    assert error.fields == ("Name",)
    stub.assert_used()
