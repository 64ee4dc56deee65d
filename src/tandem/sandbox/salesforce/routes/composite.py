"""Composite: up to 25 subrequests in one call, with ``@{ref.field}`` references.

Subrequests run through the same handlers as top-level calls (one API call is counted for the
whole composite), each with the top-level request's headers plus its own ``httpHeaders``
(``If-Unmodified-Since`` on an sObject Rows PATCH: a 412 answer of its own). With
``allOrNone`` the first failure halts the rest, and records created by earlier subrequests
are removed for good; earlier *updates* are not undone (the sandbox has no cross-call
transaction), which docs/sandbox.md states.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tandem.sandbox.salesforce.app import ApiCall, ApiRoute, Reply, run_handler
from tandem.sandbox.salesforce.errors import ApiError

__all__ = ["MAX_SUBREQUESTS", "ROUTES"]

MAX_SUBREQUESTS = 25
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
_PATH_RE = re.compile(r"^/services/data/v(\d{2}\.0)/(.*)$")
_STEP_RE = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_ID_RE = re.compile(r"^[A-Za-z0-9_]+$")
HALTED = "The transaction was rolled back since another operation in the same transaction failed."


class _Unresolved(Exception):
    """A ``@{ref.field}`` reference names a subrequest or field that gave no value."""


def _lookup(results: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in results:
        raise _Unresolved(f"Invalid reference specified. No value for {ref}.{path} found")
    value: Any = results[ref]
    for name, index in _STEP_RE.findall(path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError) as exc:
            raise _Unresolved(
                f"Invalid reference specified. No value for {ref}.{path} found in {ref}"
            ) from exc
    return value


def _resolve(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REF_RE.fullmatch(value)
        if whole:
            return _lookup(results, whole.group(1), whole.group(2))
        return _REF_RE.sub(lambda m: str(_lookup(results, m.group(1), m.group(2))), value)
    if isinstance(value, list):
        return [_resolve(item, results) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, results) for key, item in value.items()}
    return value


def _halted(reference_id: str, message: str = HALTED) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": reference_id,
    }


def _validate(body: dict[str, Any]) -> list[dict[str, Any]]:
    subrequests = body.get("compositeRequest")
    if not isinstance(subrequests, list) or not subrequests:
        raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
    if len(subrequests) > MAX_SUBREQUESTS:
        raise ApiError(
            400,
            "LIMIT_EXCEEDED",
            f"Limit Exceeded: You can have up to {MAX_SUBREQUESTS} subrequests in a "
            f"composite request, {len(subrequests)} were sent",
        )
    seen: set[str] = set()
    for sub in subrequests:
        if not isinstance(sub, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "each subrequest must be a JSON object")
        ref = sub.get("referenceId")
        if not isinstance(ref, str) or not _ID_RE.match(ref):
            raise ApiError(400, "INVALID_INPUT", f"invalid referenceId {ref!r}", ["referenceId"])
        if ref in seen:
            raise ApiError(400, "INVALID_INPUT", f"Duplicate referenceId {ref!r}", ["referenceId"])
        seen.add(ref)
        if not isinstance(sub.get("method"), str) or not isinstance(sub.get("url"), str):
            raise ApiError(400, "INVALID_INPUT", f"{ref}: method and url are required")
        _sub_headers(ref, sub.get("httpHeaders"))
    return subrequests


_INHERITED = ("accept", "authorization", "content-type")
"""Headers a subrequest takes from the top-level request and may not set itself."""


def _sub_headers(ref: str, raw: Any) -> dict[str, str]:
    """A subrequest's ``httpHeaders`` (lower-case names): any header the requested resource
    takes (``If-Unmodified-Since`` on sObject Rows, say), but not the inherited three."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise ApiError(400, "INVALID_INPUT", f"{ref}: httpHeaders must map names to strings")
    headers = {k.lower(): v for k, v in raw.items()}
    inherited = sorted(set(headers) & set(_INHERITED))
    if inherited:
        raise ApiError(
            400,
            "INVALID_INPUT",
            f"{ref}: the {', '.join(inherited)} header(s) come from the composite request and "
            "cannot be set in a subrequest",
        )
    return headers


def _run_one(
    call: ApiCall, method: str, url: str, body: Any, headers: dict[str, str] | None = None
) -> Reply:
    parts = urlsplit(url)
    found = _PATH_RE.match(parts.path)
    if not found:
        raise ApiError(404, "NOT_FOUND", f"The requested resource does not exist: {url}")
    version, path = found.group(1), found.group(2).strip("/")
    if path == "composite" or path.startswith("jobs/"):
        raise ApiError(400, "INVALID_INPUT", f"{path} is not allowed inside a composite request")
    sub = ApiCall(
        state=call.state,
        method=method.upper(),
        version=version,
        params={},
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers={**call.headers, **(headers or {})},
        body=json.dumps(body).encode() if body is not None else b"",
    )
    router = call.state.router
    assert router is not None, "the router is set when the app is built"
    return run_handler(router, sub, path)


def _rollback(call: ApiCall, created: list[str]) -> None:
    if not created:
        return
    call.org.delete_many(created, False)
    call.org.empty_recycle_bin(created)


def composite(call: ApiCall) -> Reply:
    """``POST composite``: run the subrequests in order and collect their answers."""
    body = call.json_object()
    subrequests = _validate(body)
    all_or_none = body.get("allOrNone") is True
    results: dict[str, Any] = {}
    answers: list[dict[str, Any]] = []
    created: list[str] = []
    failed = False
    for sub in subrequests:
        ref = str(sub["referenceId"])
        if failed and all_or_none:
            answers.append(_halted(ref))
            continue
        try:
            url = _resolve(sub["url"], results)
            payload = _resolve(sub.get("body"), results)
        except _Unresolved as exc:
            answers.append(_halted(ref, f"{exc}. Provided referenceId: {ref}"))
            failed = True
            continue
        try:
            headers = _sub_headers(ref, sub.get("httpHeaders"))
            reply = _run_one(call, str(sub["method"]), url, payload, headers)
        except ApiError as exc:
            reply = Reply(exc.status, exc.to_json())
        kept = {k: v for k, v in reply.headers.items() if k == "Location"}
        answers.append(
            {
                "body": reply.body if reply.status != 204 else None,
                "httpHeaders": kept,
                "httpStatusCode": reply.status,
                "referenceId": ref,
            }
        )
        if reply.status >= 400:
            failed = True
            continue
        results[ref] = reply.body
        inserted = reply.status == 201 and isinstance(reply.body, dict) and reply.body.get("id")
        if inserted and sub["method"].upper() in ("POST", "PATCH"):
            created.append(str(reply.body["id"]))
    if failed and all_or_none:
        _rollback(call, created)
        answers = [a if a["httpStatusCode"] >= 400 else _halted(a["referenceId"]) for a in answers]
    return Reply(200, {"compositeResponse": answers})


ROUTES = [ApiRoute("composite", {"POST": composite}, "composite")]
