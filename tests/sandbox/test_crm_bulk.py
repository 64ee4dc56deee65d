"""Bulk API 2.0 on the wire: job life cycle, formats, results, errors."""

from __future__ import annotations

import csv
import io
import time
import uuid
from typing import Any

import httpx
import pytest


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _wait(api: httpx.Client, kind: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info: dict[str, Any] = api.get(f"jobs/{kind}/{job_id}").json()
        if info["state"] in ("JobComplete", "Failed", "Aborted"):
            return info
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish")


def _ingest(api: httpx.Client, data: str, **spec: Any) -> dict[str, Any]:
    job = api.post("jobs/ingest", json={"object": "Account", "contentType": "CSV", **spec}).json()
    upload = api.put(
        f"jobs/ingest/{job['id']}/batches",
        content=data.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    closed = api.patch(f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    assert closed.json()["state"] == "UploadComplete"
    return _wait(api, "ingest", job["id"])


def test_job_info_fields_and_state_machine(api: httpx.Client) -> None:
    created = api.post("jobs/ingest", json={"object": "Account", "operation": "insert"})
    assert created.status_code == 200
    job = created.json()
    assert job["state"] == "Open" and job["id"].startswith("750")
    assert job["contentUrl"] == f"services/data/v59.0/jobs/ingest/{job['id']}/batches"
    assert (job["columnDelimiter"], job["lineEnding"], job["apiVersion"]) == ("COMMA", "LF", 59.0)
    early = api.get(f"jobs/ingest/{job['id']}/successfulResults/")
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    api.put(
        f"jobs/ingest/{job['id']}/batches",
        content=f"Name\nJ-{_tag()}\n".encode(),
        headers={"Content-Type": "text/csv"},
    )
    api.patch(f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    again = api.put(
        f"jobs/ingest/{job['id']}/batches",
        content=b"Name\nx\n",
        headers={"Content-Type": "text/csv"},
    )
    assert again.status_code == 409
    info = _wait(api, "ingest", job["id"])
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (1, 0)
    for key in ("jobType", "retries", "totalProcessingTime", "apiActiveProcessingTime"):
        assert key in info
    listed = api.get("jobs/ingest").json()
    assert listed["done"] is True and job["id"] in {j["id"] for j in listed["records"]}
    aborted = api.patch(f"jobs/ingest/{job['id']}", json={"state": "Aborted"})
    assert aborted.status_code == 400
    assert api.delete(f"jobs/ingest/{job['id']}").status_code == 204
    assert api.get(f"jobs/ingest/{job['id']}").status_code == 404


def test_bad_job_requests(api: httpx.Client) -> None:
    for spec in (
        {"object": "Nope__c", "operation": "insert"},
        {"object": "Account", "operation": "merge"},
        {"object": "Account", "operation": "upsert"},
        {"object": "Account", "operation": "insert", "columnDelimiter": "COLON"},
    ):
        answer = api.post("jobs/ingest", json=spec)
        assert answer.status_code == 400, spec
        assert isinstance(answer.json(), list) and answer.json()[0]["errorCode"], spec


@pytest.mark.parametrize(
    ("delimiter", "char", "line_ending", "eol"),
    [("PIPE", "|", "CRLF", "\r\n"), ("TAB", "\t", "LF", "\n"), ("SEMICOLON", ";", "LF", "\n")],
)
def test_delimiters_and_line_endings(
    api: httpx.Client, delimiter: str, char: str, line_ending: str, eol: str
) -> None:
    tag = _tag()
    data = (
        eol.join([f"Name{char}ERP_Id__c", f'"A, {tag}"{char}D-{tag}-1', f"B{char}D-{tag}-2"]) + eol
    )
    info = _ingest(
        api,
        data,
        operation="upsert",
        externalIdFieldName="ERP_Id__c",
        columnDelimiter=delimiter,
        lineEnding=line_ending,
    )
    assert info["numberRecordsProcessed"] == 2 and info["numberRecordsFailed"] == 0
    text = api.get(f"jobs/ingest/{info['id']}/successfulResults/").text
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=char))
    assert rows[0] == ["sf__Id", "sf__Created", "Name", "ERP_Id__c"]
    assert rows[1][2] == f"A, {tag}" and rows[1][1] == "true"
    assert eol in text


def test_failed_job_and_unprocessed_spellings(api: httpx.Client) -> None:
    info = _ingest(api, "Name,Nope__c\nx,y\n", operation="insert")
    assert info["state"] == "Failed" and info["errorMessage"]
    for spelling in ("unprocessedrecords", "unprocessedRecords"):
        answer = api.get(f"jobs/ingest/{info['id']}/{spelling}/")
        assert answer.status_code == 200
        assert answer.text == "Name,Nope__c\nx,y\n"
    update = _ingest(api, "Name\nno id column\n", operation="update")
    assert update["state"] == "Failed" and "Id" in update["errorMessage"]


def test_query_job_results_headers(api: httpx.Client) -> None:
    tag = _tag()
    _ingest(
        api, "Name,AccountNumber\n" + "".join(f"Q{i},{tag}\n" for i in range(7)), operation="insert"
    )
    job = api.post(
        "jobs/query",
        json={
            "operation": "query",
            "query": f"SELECT Name FROM Account WHERE AccountNumber = '{tag}'",
        },
    ).json()
    assert job["state"] in ("UploadComplete", "InProgress", "JobComplete")
    info = _wait(api, "query", job["id"])
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 7
    page = api.get(f"jobs/query/{job['id']}/results", params={"maxRecords": 5})
    assert page.headers["Sforce-NumberOfRecords"] == "5"
    locator = page.headers["Sforce-Locator"]
    assert locator not in ("", "null")
    last = api.get(f"jobs/query/{job['id']}/results", params={"maxRecords": 5, "locator": locator})
    assert last.headers["Sforce-NumberOfRecords"] == "2"
    assert last.headers["Sforce-Locator"] == "null"
    assert last.text.splitlines()[0] == '"Name"'
    bad = api.post("jobs/query", json={"operation": "query", "query": "SELECT FROM"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "MALFORMED_QUERY"


def test_abort_before_processing_leaves_rows_unprocessed(api: httpx.Client) -> None:
    job = api.post("jobs/ingest", json={"object": "Account", "operation": "insert"}).json()
    api.put(
        f"jobs/ingest/{job['id']}/batches",
        content=b"Name\nkept back\n",
        headers={"Content-Type": "text/csv"},
    )
    aborted = api.patch(f"jobs/ingest/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    rows = api.get(f"jobs/ingest/{job['id']}/unprocessedrecords/").text
    assert rows == "Name\nkept back\n"
    assert api.get(f"jobs/ingest/{job['id']}/failedResults/").text == "sf__Id,sf__Error,Name\n"
