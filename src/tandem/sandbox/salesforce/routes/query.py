"""SOQL ``query`` / ``queryAll`` with ``nextRecordsUrl`` paging, and ``limits``."""

from __future__ import annotations

import re
from typing import Any

from tandem.sandbox.salesforce.app import ApiCall, ApiRoute, Reply
from tandem.sandbox.salesforce.errors import ApiError
from tandem.sandbox.salesforce.org import QueryPage

__all__ = ["ROUTES", "batch_size"]

DEFAULT_BATCH = 2000
MIN_BATCH = 200
_BATCH_RE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


def batch_size(header: str | None) -> int:
    """The page size asked through ``Sforce-Query-Options: batchSize=N``, clamped to 200..2000.

    Args:
        header: the header value, or ``None``.

    Returns:
        The page size to use.
    """
    if not header:
        return DEFAULT_BATCH
    found = _BATCH_RE.search(header)
    if not found:
        return DEFAULT_BATCH
    return max(MIN_BATCH, min(DEFAULT_BATCH, int(found.group(1))))


def _page(call: ApiCall, page: QueryPage, resource: str) -> Reply:
    body: dict[str, Any] = {"totalSize": page.total_size, "done": page.done}
    if not page.done and page.locator:
        body["nextRecordsUrl"] = call.url(f"{resource}/{page.locator}")
    body["records"] = page.records
    return Reply(200, body)


def _run(call: ApiCall, include_deleted: bool) -> Reply:
    soql = call.query.get("q")
    if soql is None or not soql.strip():
        raise ApiError(400, "MALFORMED_QUERY", "A query string (q) must be provided.")
    page = call.org.query(
        soql,
        include_deleted=include_deleted,
        batch_size=batch_size(call.headers.get("sforce-query-options")),
        api_version=call.version,
    )
    return _page(call, page, "queryAll" if include_deleted else "query")


def query(call: ApiCall) -> Reply:
    """``GET query/?q=``."""
    return _run(call, include_deleted=False)


def query_all(call: ApiCall) -> Reply:
    """``GET queryAll/?q=``: deleted and archived rows included."""
    return _run(call, include_deleted=True)


def query_more(call: ApiCall) -> Reply:
    """``GET query/{locator}``: the next page."""
    page = call.org.query_more(call.params["locator"], call.version)
    return _page(call, page, "query")


def query_all_more(call: ApiCall) -> Reply:
    """``GET queryAll/{locator}``: the next page."""
    page = call.org.query_more(call.params["locator"], call.version)
    return _page(call, page, "queryAll")


def _limit(maximum: int, remaining: int) -> dict[str, int]:
    return {"Max": maximum, "Remaining": remaining}


def limits(call: ApiCall) -> Reply:
    """``GET limits/``: the daily API allocation and Bulk keys, all ``{Max, Remaining}``."""
    usage = call.state.usage
    used = usage.used
    bulk = call.state.bulk
    ingest_batches, query_jobs = bulk.counts_today() if bulk is not None else (0, 0)
    body = {
        "ConcurrentAsyncGetReportInstances": _limit(200, 200),
        "DailyApiRequests": _limit(usage.maximum, max(0, usage.maximum - used)),
        "DailyAsyncApexExecutions": _limit(250000, 250000),
        "DailyBulkApiBatches": _limit(15000, max(0, 15000 - ingest_batches)),
        "DailyBulkV2QueryFileStorageMB": _limit(1048576, 1048576),
        "DailyBulkV2QueryJobs": _limit(10000, max(0, 10000 - query_jobs)),
        "DataStorageMB": _limit(1024, 1024),
        "FileStorageMB": _limit(1024, 1024),
        "HourlyTimeBasedWorkflow": _limit(1000, 1000),
        "SingleEmail": _limit(5000, 5000),
    }
    return Reply(200, body)


def resources(call: ApiCall) -> Reply:
    """``GET /services/data/vNN.N/``: the resources of this version."""
    names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
    return Reply(200, {name: call.url(name) for name in names})


ROUTES = [
    ApiRoute("", {"GET": resources}, "describe"),
    ApiRoute("query", {"GET": query}, "query"),
    ApiRoute("query/{locator}", {"GET": query_more}, "query"),
    ApiRoute("queryAll", {"GET": query_all}, "query"),
    ApiRoute("queryAll/{locator}", {"GET": query_all_more}, "query"),
    ApiRoute("limits", {"GET": limits}, "limits"),
]
