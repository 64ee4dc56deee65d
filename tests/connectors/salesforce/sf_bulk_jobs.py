"""The Bulk ingest job the Salesforce connector tests hand over: an upsert of Accounts by
``ERP_Id__c``, rows ``[key, name]``. A plain module (imported by name, as ``sf_stubs``)."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
from sf_stubs import API, StrictStub, json_response

from tandem.connectors.salesforce.bulk import BulkApi, IngestJob
from tandem.connectors.salesforce.client import SaveResult

COLUMNS = ["ERP_Id__c", "Name"]
"""The CSV columns of the job."""

UPSERT: dict[str, str] = {"key_column": "ERP_Id__c", "external_id": "ERP_Id__c"}
"""The keyword arguments of an upsert by ``ERP_Id__c``."""


JOB = f"{API}/jobs/ingest/750B"
"""The job's resource, as the stubs answer it."""


def job_setup(stub: StrictStub, closed_at: str | None = None) -> None:
    """Create, upload and close answers (``closed_at``: the closed job's ``systemModstamp``)."""
    stub.on("POST", f"{API}/jobs/ingest", json_response({"id": "750B", "state": "Open"}))
    stub.on("PUT", f"{JOB}/batches", httpx.Response(201))
    closed: dict[str, str] = {"id": "750B", "state": "UploadComplete"}
    if closed_at is not None:
        closed["systemModstamp"] = closed_at
    stub.on("PATCH", JOB, json_response(closed))


def job_polls(stub: StrictStub, *states: dict[str, object]) -> None:
    """One poll answer per state given."""
    stub.on("GET", JOB, [json_response({"id": "750B", **s}) for s in states])


def job_calls(stub: StrictStub, *states: dict[str, object]) -> None:
    """Create, upload and close answers, then one poll answer per state given."""
    job_setup(stub)
    job_polls(stub, *states)


def upsert_rows(n: int) -> list[list[str]]:
    """``n`` rows ``[E-i, Ni]``."""
    return [[f"E-{i}", f"N{i}"] for i in range(n)]


def success_file(rows: list[list[str]]) -> httpx.Response:
    """The success file of a job that saved ``rows`` (created, Ids ``001`` + row number)."""
    lines = ['"sf__Id","sf__Created","ERP_Id__c","Name"']
    lines += [f'"001{i:05d}","true","{key}","{name}"' for i, (key, name) in enumerate(rows)]
    return httpx.Response(200, text="\n".join(lines) + "\n")


def middle_row_fails(stub: StrictStub) -> None:
    """The failed-results file of a three-row upsert whose middle row (``E-1``) was too long."""
    failed = '"sf__Id","sf__Error",ERP_Id__c,Name\n"","STRING_TOO_LONG:too long:Name --",E-1,N1\n'
    stub.on("GET", f"{JOB}/failedResults/", httpx.Response(200, text=failed))


def assert_middle_row_failed(results: list[SaveResult | None]) -> None:
    """The results of that upsert: the first and last rows saved, the middle one refused."""
    assert [(r.id, r.success) for r in results if r is not None] == [
        ("00100000", True),
        (None, False),
        ("00100001", True),
    ]
    assert results[1] is not None and results[1].errors[0].code == "STRING_TOO_LONG"


async def submit_upsert(bulk: BulkApi, rows: Sequence[Sequence[str]]) -> IngestJob:
    """Hand over the job (create, upload, close); :meth:`BulkApi.collect` gives its results."""
    return await bulk.submit("Account", "upsert", COLUMNS, rows, **UPSERT)


async def upsert(bulk: BulkApi, rows: Sequence[Sequence[str]]) -> list[SaveResult | None]:
    """Hand over the job and wait for its results."""
    return await bulk.ingest("Account", "upsert", COLUMNS, rows, **UPSERT)


__all__ = [
    "COLUMNS",
    "JOB",
    "UPSERT",
    "assert_middle_row_failed",
    "job_calls",
    "job_polls",
    "job_setup",
    "middle_row_fails",
    "submit_upsert",
    "success_file",
    "upsert",
    "upsert_rows",
]
