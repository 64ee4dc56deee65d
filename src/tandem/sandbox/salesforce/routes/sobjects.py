"""sObject resources: describe, CRUD, upsert by external ID, getUpdated / getDeleted."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tandem.sandbox.salesforce.app import NOT_FOUND_MESSAGE, ApiCall, ApiRoute, Reply
from tandem.sandbox.salesforce.conditional import (
    IF_MODIFIED_SINCE,
    PreconditionFailed,
    http_date,
    modified_after,
    unmodified_since,
)
from tandem.sandbox.salesforce.errors import ApiError

__all__ = ["ROUTES", "parse_instant"]

_OFFSET_RE = re.compile(r"([+-])(\d{2}):?(\d{2})$")


def parse_instant(name: str, raw: str | None) -> dt.datetime:
    """Parse a ``start``/``end`` parameter: ISO-8601 with ``Z``, ``+00:00`` or ``+0000``.

    Args:
        name: the parameter name (for the error message).
        raw: the decoded value; a ``+`` turned into a space by form decoding is repaired.

    Returns:
        The instant, tz-aware in UTC.

    Raises:
        ApiError: 400 ``MISSING_ARGUMENT`` or ``INVALID_REPLICATION_DATE``.
    """
    if raw is None or not raw.strip():
        raise ApiError(400, "MISSING_ARGUMENT", f"{name} not specified")
    text = raw.strip().replace(" ", "+")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = _OFFSET_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}:{m.group(3)}", text)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            f"{name}: unable to parse {raw!r} as an ISO-8601 date-time with a time zone",
        ) from exc
    if value.tzinfo is None:
        raise ApiError(400, "INVALID_REPLICATION_DATE", f"{name}: {raw!r} has no time zone offset")
    return value.astimezone(dt.UTC)


def _values(call: ApiCall) -> dict[str, Any]:
    values = call.json_object()
    values.pop("attributes", None)
    return values


def _fields(call: ApiCall) -> list[str] | None:
    raw = call.query.get("fields")
    if not raw:
        return None
    return [name.strip() for name in raw.split(",") if name.strip()]


def describe_global(call: ApiCall) -> Reply:
    """``GET sobjects/``."""
    return Reply(200, call.org.describe_global(call.version))


def basic_info(call: ApiCall) -> Reply:
    """``GET sobjects/{sobject}/``: the object's summary and (no) recent items."""
    full = call.org.describe(call.params["sobject"], call.version)
    summary = {
        key: value
        for key, value in full.items()
        if key not in ("fields", "childRelationships", "recordTypeInfos")
    }
    return Reply(200, {"objectDescribe": summary, "recentItems": []})


def describe(call: ApiCall) -> Reply:
    """``GET sobjects/{sobject}/describe``."""
    return Reply(200, call.org.describe(call.params["sobject"], call.version))


def create(call: ApiCall) -> Reply:
    """``POST sobjects/{sobject}/``: 201 ``{"id","success","errors"}``."""
    sobject = call.params["sobject"]
    record_id = call.org.create(sobject, _values(call))
    return Reply(
        201,
        {"id": record_id, "success": True, "errors": []},
        headers={"Location": call.url(f"sobjects/{sobject}/{record_id}")},
    )


def retrieve(call: ApiCall) -> Reply:
    """``GET sobjects/{sobject}/{id}[?fields=]``.

    ``If-Modified-Since``: 304 when not modified after it; ``If-Unmodified-Since``: 412 when
    modified after it (an invalid date is ignored, as HTTP does for a GET).
    """
    sobject, record_id = call.params["sobject"], call.params["record_id"]
    changed_since = http_date(call.headers.get(IF_MODIFIED_SINCE))
    unchanged_since = unmodified_since(call.headers, strict=False)
    if changed_since is not None or unchanged_since is not None:
        stamp = call.org.retrieve(sobject, record_id, ["LastModifiedDate"], call.version)
        if unchanged_since is not None and modified_after(stamp, unchanged_since):
            return Reply(412)
        if changed_since is not None and not modified_after(stamp, changed_since):
            return Reply(304)
    return Reply(200, call.org.retrieve(sobject, record_id, _fields(call), call.version))


def update(call: ApiCall) -> Reply:
    """``PATCH sobjects/{sobject}/{id}``: 204; 412 (nothing changed) when the record was
    modified after the ``If-Unmodified-Since`` date, checked in the update's transaction."""
    values = _values(call)
    values.pop("Id", None)
    sobject, record_id = call.params["sobject"], call.params["record_id"]
    since = unmodified_since(call.headers, strict=True)
    if since is None:
        call.org.update(sobject, record_id, values)
        return Reply(204)
    try:
        call.org.update_unmodified_since(sobject, record_id, values, since)
    except PreconditionFailed:
        return Reply(412)
    return Reply(204)


def delete(call: ApiCall) -> Reply:
    """``DELETE sobjects/{sobject}/{id}``: 204."""
    call.org.delete(call.params["sobject"], call.params["record_id"])
    return Reply(204)


def create_by_id_field(call: ApiCall) -> Reply:
    """``POST sobjects/{sobject}/Id``: creates when the body's ``Id`` is null or absent."""
    if call.params["record_id"] != "Id":
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            "HTTP Method 'POST' not allowed. Allowed are GET,PATCH,DELETE,HEAD",
        )
    values = _values(call)
    if values.pop("Id", None) is not None:
        raise ApiError(
            400,
            "INVALID_FIELD",
            "Id in the body must be null when creating through sobjects/{type}/Id",
            ["Id"],
        )
    sobject = call.params["sobject"]
    record_id = call.org.create(sobject, values)
    body: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
    if call.major >= 46:
        body["created"] = True
    location = {"Location": call.url(f"sobjects/{sobject}/{record_id}")}
    return Reply(201, body, headers=location)


def _upsert_reply(call: ApiCall, record_id: str, created: bool) -> Reply:
    sobject = call.params["sobject"]
    location = {"Location": call.url(f"sobjects/{sobject}/{record_id}")}
    if call.major >= 46:
        body = {"id": record_id, "success": True, "errors": [], "created": created}
        return Reply(201 if created else 200, body, headers=location if created else {})
    if created:
        return Reply(201, {"id": record_id, "success": True, "errors": []}, headers=location)
    return Reply(204)


def upsert(call: ApiCall) -> Reply:
    """``PATCH sobjects/{sobject}/{field}/{value}``: upsert by external ID.

    201 created / 200 updated (with ``created``, v46+; 204 up to v45) / 300 several matches /
    404 ``NOT_FOUND`` for an unknown field. ``?updateOnly=true`` refuses to insert.
    """
    sobject, field_name, value = (
        call.params["sobject"],
        call.params["field"],
        call.params["value"],
    )
    values = _values(call)
    if field_name == "Id":
        values.pop("Id", None)
        call.org.update(sobject, value, values)
        return _upsert_reply(call, value, created=False)
    if call.query.get("updateOnly", "").lower() == "true":
        call.org.retrieve_by_external_id(sobject, field_name, value, ["Id"], call.version)
    record_id, created = call.org.upsert(sobject, field_name, value, values)
    return _upsert_reply(call, record_id, created)


def retrieve_by_external_id(call: ApiCall) -> Reply:
    """``GET sobjects/{sobject}/{field}/{value}``: 200 record / 300 several matches / 404."""
    sobject, field_name, value = (
        call.params["sobject"],
        call.params["field"],
        call.params["value"],
    )
    if field_name == "Id":
        return Reply(200, call.org.retrieve(sobject, value, _fields(call), call.version))
    record = call.org.retrieve_by_external_id(
        sobject, field_name, value, _fields(call), call.version
    )
    return Reply(200, record)


def delete_by_external_id(call: ApiCall) -> Reply:
    """``DELETE sobjects/{sobject}/{field}/{value}``: 204."""
    sobject, field_name, value = (
        call.params["sobject"],
        call.params["field"],
        call.params["value"],
    )
    record = call.org.retrieve_by_external_id(sobject, field_name, value, ["Id"], call.version)
    call.org.delete(sobject, str(record["Id"]))
    return Reply(204)


def updated(call: ApiCall) -> Reply:
    """``GET sobjects/{sobject}/updated/?start=&end=``."""
    start = parse_instant("start", call.query.get("start"))
    end = parse_instant("end", call.query.get("end"))
    _check_window(start, end)
    return Reply(200, call.org.get_updated(call.params["sobject"], start, end))


def deleted(call: ApiCall) -> Reply:
    """``GET sobjects/{sobject}/deleted/?start=&end=``."""
    start = parse_instant("start", call.query.get("start"))
    end = parse_instant("end", call.query.get("end"))
    _check_window(start, end)
    return Reply(200, call.org.get_deleted(call.params["sobject"], start, end))


def _check_window(start: dt.datetime, end: dt.datetime) -> None:
    if end < start:
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            f"end date {end.isoformat()} must be after start date {start.isoformat()}",
        )


def not_found(call: ApiCall) -> Reply:
    """Any deeper ``sobjects/...`` path."""
    raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)


ROUTES = [
    ApiRoute("sobjects", {"GET": describe_global}, "describe"),
    ApiRoute("sobjects/{sobject}", {"GET": basic_info, "POST": create}, "sobject", lockable=True),
    ApiRoute("sobjects/{sobject}/describe", {"GET": describe}, "describe"),
    ApiRoute("sobjects/{sobject}/updated", {"GET": updated}, "replication"),
    ApiRoute("sobjects/{sobject}/deleted", {"GET": deleted}, "replication"),
    ApiRoute(
        "sobjects/{sobject}/{record_id}",
        {"GET": retrieve, "PATCH": update, "DELETE": delete, "POST": create_by_id_field},
        "sobject",
        lockable=True,
    ),
    ApiRoute(
        "sobjects/{sobject}/{field}/{value}",
        {"GET": retrieve_by_external_id, "PATCH": upsert, "DELETE": delete_by_external_id},
        "upsert",
        lockable=True,
    ),
]
