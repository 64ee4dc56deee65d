"""sObject Collections: ``composite/sobjects`` create, update, upsert, retrieve, delete.

A well-formed request answers 200 with one result per record, in request order, even when
records fail (``statusCode`` errors). Injected ``UNABLE_TO_LOCK_ROW`` faults are drawn per record
here: those records fail without reaching the org; with ``allOrNone`` nothing is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tandem.sandbox.salesforce.app import ApiCall, ApiRoute, Reply
from tandem.sandbox.salesforce.errors import ApiError
from tandem.sandbox.salesforce.org import SaveResult

__all__ = ["MAX_RECORDS", "ROUTES"]

MAX_RECORDS = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}


def _lock_error(record_id: str | None) -> dict[str, Any]:
    return {
        "statusCode": "UNABLE_TO_LOCK_ROW",
        "message": "unable to obtain exclusive access to this record or 1 records: "
        f"{record_id or '001000000000000AAA'}",
        "fields": [],
    }


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return False


def _records(call: ApiCall) -> tuple[list[dict[str, Any]], bool]:
    body = call.json_object()
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ApiError(400, "JSON_PARSER_ERROR", "records must be a JSON array of objects")
    if not records:
        raise ApiError(400, "INVALID_INPUT", "records cannot be empty", ["records"])
    if len(records) > MAX_RECORDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit exceeded: {len(records)} records sent, the limit is {MAX_RECORDS}",
        )
    return records, _flag(body.get("allOrNone", False))


def _ids(raw: str | None) -> list[str]:
    ids = [part.strip() for part in (raw or "").split(",") if part.strip()]
    if not ids:
        raise ApiError(400, "MISSING_ARGUMENT", "ids not specified", ["ids"])
    if len(ids) > MAX_RECORDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"id limit exceeded: {len(ids)} ids sent, the limit is {MAX_RECORDS}",
        )
    return ids


def _with_lock_faults(
    call: ApiCall,
    items: list[Any],
    all_or_none: bool,
    run: Callable[[list[Any]], list[SaveResult]],
    id_of: Callable[[Any], str | None],
) -> list[SaveResult]:
    """Run ``run`` on the items that did not draw a lock fault, and merge the results."""
    faults = call.state.faults
    locked = [faults.lock_record() for _ in items] if not faults.quiet else []
    if not any(locked):
        return run(items)
    if all_or_none:
        return [
            SaveResult(id_of(item), False, [_lock_error(id_of(item))])
            if hit
            else SaveResult(None, False, [dict(ROLLED_BACK)])
            for item, hit in zip(items, locked, strict=True)
        ]
    kept = [item for item, hit in zip(items, locked, strict=True) if not hit]
    saved = iter(run(kept) if kept else [])
    return [
        SaveResult(id_of(item), False, [_lock_error(id_of(item))]) if hit else next(saved)
        for item, hit in zip(items, locked, strict=True)
    ]


def _reply(results: list[SaveResult], with_created: bool) -> Reply:
    return Reply(200, [result.to_json(with_created) for result in results])


def _record_id(record: Any) -> str | None:
    value = record.get("Id") if isinstance(record, dict) else record
    return str(value) if value else None


def create(call: ApiCall) -> Reply:
    """``POST composite/sobjects``: create up to 200 records (types may be mixed)."""
    records, all_or_none = _records(call)
    results = _with_lock_faults(
        call,
        records,
        all_or_none,
        lambda kept: call.org.create_many(kept, all_or_none),
        lambda _: None,
    )
    return _reply(results, with_created=False)


def update(call: ApiCall) -> Reply:
    """``PATCH composite/sobjects``: update up to 200 records by ``Id``."""
    records, all_or_none = _records(call)
    results = _with_lock_faults(
        call,
        records,
        all_or_none,
        lambda kept: call.org.update_many(kept, all_or_none),
        _record_id,
    )
    return _reply(results, with_created=False)


def upsert(call: ApiCall) -> Reply:
    """``PATCH composite/sobjects/{sobject}/{field}``: upsert up to 200 records by external ID."""
    sobject, ext_field = call.params["sobject"], call.params["field"]
    records, all_or_none = _records(call)
    results = _with_lock_faults(
        call,
        records,
        all_or_none,
        lambda kept: call.org.upsert_many(sobject, ext_field, kept, all_or_none),
        _record_id,
    )
    return _reply(results, with_created=True)


def delete(call: ApiCall) -> Reply:
    """``DELETE composite/sobjects?ids=a,b&allOrNone=false``."""
    ids = _ids(call.query.get("ids"))
    all_or_none = _flag(call.query.get("allOrNone", "false"))
    results = _with_lock_faults(
        call, ids, all_or_none, lambda kept: call.org.delete_many(kept, all_or_none), _record_id
    )
    return _reply(results, with_created=False)


def retrieve(call: ApiCall) -> Reply:
    """``GET composite/sobjects/{sobject}?ids=&fields=`` (or POST with a JSON body)."""
    if call.method == "POST":
        body = call.json_object()
        raw_ids, raw_fields = body.get("ids"), body.get("fields")
        if not isinstance(raw_ids, list) or not isinstance(raw_fields, list):
            raise ApiError(400, "JSON_PARSER_ERROR", "ids and fields must be JSON arrays")
        ids = _ids(",".join(str(i) for i in raw_ids))
        fields = [str(f) for f in raw_fields]
    else:
        ids = _ids(call.query.get("ids"))
        fields = [f.strip() for f in call.query.get("fields", "").split(",") if f.strip()]
    if not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "fields not specified", ["fields"])
    records = call.org.retrieve_many(call.params["sobject"], ids, fields, call.version)
    return Reply(200, records)


ROUTES = [
    ApiRoute(
        "composite/sobjects",
        {"POST": create, "PATCH": update, "DELETE": delete},
        "collections",
        per_record_faults=True,
    ),
    ApiRoute(
        "composite/sobjects/{sobject}",
        {"GET": retrieve, "POST": retrieve},
        "collections",
        per_record_faults=True,
    ),
    ApiRoute(
        "composite/sobjects/{sobject}/{field}",
        {"PATCH": upsert},
        "collections",
        per_record_faults=True,
    ),
]
