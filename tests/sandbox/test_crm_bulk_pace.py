"""The Bulk 2.0 processing pace (``bulk_rows_per_second``): an ingest job stays InProgress for
as long as a real org would take over its rows, and an abort while it runs stops it the way
Salesforce does (state ``Aborted``; the rows processed so far stay written, the rest are
listed as unprocessed)."""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from crm_clients import admin_client, api_client
from simple_salesforce.exceptions import SalesforceOperationError
from test_crm_simple_salesforce import direct

from tandem.sandbox.salesforce.faults import FaultConfig
from tandem.sandbox.salesforce.server import SandboxHandle

HANG = 60.0
"""Seconds a wait may last before the test fails (a hang detector, not a timing assert)."""

TERMINAL = ("JobComplete", "Failed", "Aborted")


def _until(what: str, condition: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + HANG
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
    return found


def _upsert_job(api: httpx.Client, tag: str, n: int) -> str:
    """Create, fill and close an upsert job of ``n`` Accounts keyed ``tag-i``; its id."""
    spec = {"object": "Account", "operation": "upsert", "externalIdFieldName": "ERP_Id__c"}
    job_id = str(api.post("jobs/ingest", json=spec).json()["id"])
    data = "ERP_Id__c,Name\n" + "".join(f"{tag}-{i},Name {i}\n" for i in range(n))
    upload = api.put(
        f"jobs/ingest/{job_id}/batches",
        content=data.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201, upload.text
    closed = api.patch(f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    return job_id


def _accounts(crm: SandboxHandle, tag: str) -> int:
    soql = f"SELECT Id FROM Account WHERE ERP_Id__c LIKE '{tag}-%'"
    return crm.org.query(soql, include_deleted=False).total_size


def _csv_rows(api: httpx.Client, job_id: str, which: str) -> list[dict[str, str]]:
    answer = api.get(f"jobs/ingest/{job_id}/{which}/")
    assert answer.status_code == 200, answer.text
    return list(csv.DictReader(io.StringIO(answer.text)))


def test_the_pace_is_a_fault_setting_and_rejects_nonsense(fresh_crm: SandboxHandle) -> None:
    with admin_client(fresh_crm) as admin:
        set_ = admin.post("/__sandbox/faults", json={"bulk_rows_per_second": 4})
        assert set_.status_code == 200, set_.text
        shown = admin.get("/__sandbox/faults").json()
    assert shown["config"]["bulk_rows_per_second"] == 4
    # The pace slows jobs, not calls: the request path stays on its fast lane.
    assert fresh_crm.state.faults.quiet
    for bad in (0, -1):
        with pytest.raises(ValueError, match="bulk_rows_per_second"):
            FaultConfig.model_validate({"bulk_rows_per_second": bad})


def test_a_paced_job_is_seen_in_progress_then_complete(fresh_crm: SandboxHandle) -> None:
    fresh_crm.set_faults({"bulk_rows_per_second": 8})
    tag = uuid.uuid4().hex[:8]
    seen: list[tuple[str, int]] = []
    with api_client(fresh_crm) as api:
        job_id = _upsert_job(api, tag, 8)

        def ended() -> bool:
            info = api.get(f"jobs/ingest/{job_id}").json()
            seen.append((str(info["state"]), int(info["numberRecordsProcessed"])))
            return seen[-1][0] in TERMINAL

        _until("the job to end", ended)
        assert _accounts(fresh_crm, tag) == 8
        assert len(_csv_rows(api, job_id, "successfulResults")) == 8
    assert seen[-1] == ("JobComplete", 8)
    in_progress = [count for state, count in seen if state == "InProgress"]
    assert in_progress, seen  # a second of work: the polls find it running
    assert in_progress == sorted(in_progress) and in_progress[0] < 8


def test_an_abort_while_in_progress_keeps_the_rows_processed_so_far(
    fresh_crm: SandboxHandle,
) -> None:
    fresh_crm.set_faults({"bulk_rows_per_second": 4})
    tag = uuid.uuid4().hex[:8]
    with api_client(fresh_crm) as api:
        job_id = _upsert_job(api, tag, 400)  # 100 s of work: the abort comes long before

        def running() -> bool:
            info = api.get(f"jobs/ingest/{job_id}").json()
            return info["state"] == "InProgress" and int(info["numberRecordsProcessed"]) > 0

        _until("rows processed", running)
        aborted = api.patch(f"jobs/ingest/{job_id}", json={"state": "Aborted"})
        assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
        # The answer to the abort comes once the org has stopped: the counts are final.
        info = api.get(f"jobs/ingest/{job_id}").json()
        done = int(info["numberRecordsProcessed"])
        assert info["state"] == "Aborted" and 0 < done < 400
        assert _accounts(fresh_crm, tag) == done  # kept: an abort rolls nothing back
        success = _csv_rows(api, job_id, "successfulResults")
        assert [row["ERP_Id__c"] for row in success] == [f"{tag}-{i}" for i in range(done)]
        rest = _csv_rows(api, job_id, "unprocessedrecords")
        assert [row["ERP_Id__c"] for row in rest] == [f"{tag}-{i}" for i in range(done, 400)]
        again = api.patch(f"jobs/ingest/{job_id}", json={"state": "Aborted"})
        assert again.status_code == 400
        assert api.get(f"jobs/ingest/{job_id}").json()["numberRecordsProcessed"] == done


def test_a_job_left_running_by_a_stopped_worker_resumes_where_it_was(
    fresh_crm: SandboxHandle,
) -> None:
    fresh_crm.set_faults({"bulk_rows_per_second": 4})
    tag = uuid.uuid4().hex[:8]
    bulk = fresh_crm.state.bulk
    with api_client(fresh_crm) as api:
        job_id = _upsert_job(api, tag, 40)
        _until("rows processed", lambda: bulk.info("ingest", job_id)["numberRecordsProcessed"])
        bulk.stop()
        held = bulk.info("ingest", job_id)
        assert held["state"] == "InProgress"
        fresh_crm.clear_faults()
        bulk.start()
        _until("the job to end", lambda: bulk.info("ingest", job_id)["state"] in TERMINAL)
        assert bulk.info("ingest", job_id)["state"] == "JobComplete"
        assert len(_csv_rows(api, job_id, "successfulResults")) == 40
    assert _accounts(fresh_crm, tag) == 40


def test_simple_salesforce_waits_out_a_paced_job_and_reports_an_abort(
    fresh_crm: SandboxHandle,
) -> None:
    sf = direct(fresh_crm)
    fresh_crm.set_faults({"bulk_rows_per_second": 10})
    tag = uuid.uuid4().hex[:8]
    rows = [{"ERP_Id__c": f"{tag}-{i}", "Name": f"N {i}"} for i in range(10)]
    (result,) = sf.bulk2.Account.upsert(records=rows, external_id_field="ERP_Id__c", wait=0.1)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (10, 0)

    fresh_crm.set_faults({"bulk_rows_per_second": 2})
    slow = [{"ERP_Id__c": f"{tag}-s{i}", "Name": f"S {i}"} for i in range(200)]
    failure: list[Exception] = []

    def load() -> None:
        try:
            sf.bulk2.Account.upsert(records=slow, external_id_field="ERP_Id__c", wait=0.1)
        except Exception as exc:  # handed to the test thread
            failure.append(exc)

    loader = threading.Thread(target=load)
    loader.start()
    bulk = fresh_crm.state.bulk

    def running_job() -> str | None:
        jobs = [j for j in bulk.list_jobs("ingest") if j["state"] == "InProgress"]
        return str(jobs[0]["id"]) if jobs else None

    job_id = _until("the slow job running", running_job)
    with api_client(fresh_crm) as api:
        assert api.patch(f"jobs/ingest/{job_id}", json={"state": "Aborted"}).status_code == 200
    loader.join(HANG)
    assert not loader.is_alive()
    (error,) = failure
    assert isinstance(error, SalesforceOperationError) and "Aborted" in str(error)
    assert bulk.info("ingest", job_id)["state"] == "Aborted"
