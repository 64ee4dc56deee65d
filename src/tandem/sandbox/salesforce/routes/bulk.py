"""Bulk API 2.0 resources: ``jobs/ingest`` and ``jobs/query`` (see :mod:`..bulk`)."""

from __future__ import annotations

from tandem.sandbox.salesforce.app import ApiCall, ApiRoute, Reply
from tandem.sandbox.salesforce.bulk import BulkManager, JobKind
from tandem.sandbox.salesforce.errors import ApiError

__all__ = ["ROUTES"]

CSV_TYPE = "text/csv"


def _manager(call: ApiCall) -> BulkManager:
    manager = call.state.bulk
    assert isinstance(manager, BulkManager), "the server sets the Bulk manager"
    return manager


def _kind(call: ApiCall) -> JobKind:
    return "ingest" if call.params["kind"] == "ingest" else "query"


def create_job(call: ApiCall) -> Reply:
    """``POST jobs/ingest`` or ``jobs/query``: the JobInfo (state ``Open`` / ``UploadComplete``)."""
    spec = call.json_object()
    manager = _manager(call)
    if _kind(call) == "ingest":
        return Reply(200, manager.create_ingest(spec, call.version))
    return Reply(200, manager.create_query(spec, call.version))


def list_jobs(call: ApiCall) -> Reply:
    """``GET jobs/ingest`` or ``jobs/query``: every job, in one page."""
    records = _manager(call).list_jobs(_kind(call))
    return Reply(200, {"done": True, "records": records, "nextRecordsUrl": None})


def job_info(call: ApiCall) -> Reply:
    """``GET jobs/{kind}/{id}``."""
    return Reply(200, _manager(call).info(_kind(call), call.params["job_id"]))


def patch_job(call: ApiCall) -> Reply:
    """``PATCH jobs/{kind}/{id}`` with ``{"state": "UploadComplete" | "Aborted"}``."""
    state = call.json_object().get("state")
    return Reply(200, _manager(call).change_state(_kind(call), call.params["job_id"], state))


def delete_job(call: ApiCall) -> Reply:
    """``DELETE jobs/{kind}/{id}``: 204."""
    _manager(call).delete(_kind(call), call.params["job_id"])
    return Reply(204)


def upload(call: ApiCall) -> Reply:
    """``PUT jobs/ingest/{id}/batches`` with ``text/csv``: 201."""
    if call.params["kind"] != "ingest":
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    content_type = call.headers.get("content-type", CSV_TYPE).lower()
    if not content_type.startswith(CSV_TYPE):
        raise ApiError(
            415,
            "INVALIDCONTENTTYPE",
            f"Content-Type {content_type!r} is not supported: upload text/csv",
        )
    _manager(call).upload(call.params["job_id"], call.body)
    return Reply(201)


def job_resource(call: ApiCall) -> Reply:
    """``GET jobs/ingest/{id}/successfulResults|failedResults|unprocessedrecords`` and
    ``GET jobs/query/{id}/results``."""
    resource, manager = call.params["resource"], _manager(call)
    if call.params["kind"] == "query" and resource == "results":
        raw_max = call.query.get("maxRecords")
        max_records = None
        if raw_max is not None:
            if not raw_max.isdigit() or int(raw_max) < 1:
                raise ApiError(400, "INVALIDREQUEST", f"maxRecords {raw_max!r}: a positive integer")
            max_records = int(raw_max)
        body, locator, count = manager.query_results(
            call.params["job_id"], call.version, call.query.get("locator"), max_records
        )
        headers = {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)}
        return Reply(200, body, CSV_TYPE, headers)
    known = ("successfulResults", "failedResults", "unprocessedrecords", "unprocessedRecords")
    if call.params["kind"] != "ingest" or resource not in known:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return Reply(200, manager.results(call.params["job_id"], resource), CSV_TYPE)


def _not_jobs(call: ApiCall) -> Reply:
    raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _dispatch_root(call: ApiCall) -> Reply:
    if call.params["kind"] not in ("ingest", "query"):
        return _not_jobs(call)
    return create_job(call) if call.method == "POST" else list_jobs(call)


def _dispatch_job(call: ApiCall) -> Reply:
    if call.params["kind"] not in ("ingest", "query"):
        return _not_jobs(call)
    handler = {"GET": job_info, "PATCH": patch_job, "DELETE": delete_job}[call.method]
    return handler(call)


ROUTES = [
    ApiRoute("jobs/{kind}", {"GET": _dispatch_root, "POST": _dispatch_root}, "bulk"),
    ApiRoute(
        "jobs/{kind}/{job_id}",
        {"GET": _dispatch_job, "PATCH": _dispatch_job, "DELETE": _dispatch_job},
        "bulk",
    ),
    ApiRoute("jobs/{kind}/{job_id}/batches", {"PUT": upload}, "bulk"),
    ApiRoute("jobs/{kind}/{job_id}/{resource}", {"GET": job_resource}, "bulk"),
]
