"""``POST /services/Soap/u/{version}[/{org_id}]``: the SOAP partner calls, by the body's call.

``login`` is answered by :func:`~.auth.soap_login`; ``merge`` here. A merge call needs a
valid session in its ``SessionHeader`` and counts against the daily API allocation, as any
call made with a session does. The configured faults reach it as they reach the REST calls
(latency first, then one decision), answered the SOAP way: an expired session, a spent limit
and a locked row as SOAP faults with HTTP 500; an HTTP error rate with that status (a 503 with
``Retry-After``), its body a SOAP fault too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from tandem.sandbox.salesforce.app import SandboxState, fault_words
from tandem.sandbox.salesforce.errors import ApiError
from tandem.sandbox.salesforce.faults import Fault
from tandem.sandbox.salesforce.merge import MergeResult
from tandem.sandbox.salesforce.routes.auth import soap_login
from tandem.sandbox.salesforce.schema import NUMBER_TYPES, FieldDef
from tandem.sandbox.salesforce.soap import (
    MergeRequest,
    SoapFault,
    merge_response,
    operation,
    parse_merge,
    session_id,
)

__all__ = ["call"]

_XML = "text/xml; charset=utf-8"


async def call(request: Request) -> Response:
    """Dispatch a SOAP call: ``login`` or ``merge``; any other is a fault."""
    state: SandboxState = request.app.state.sandbox
    body = await request.body()
    try:
        name = operation(body)
        if name == "login":
            return await soap_login(request)
        if name != "merge":
            raise SoapFault("UNKNOWN_EXCEPTION", f"The {name} call is not implemented")
        token = session_id(body)
        if token is None or not state.tokens.is_valid(token):
            raise SoapFault(
                "INVALID_SESSION_ID", "Invalid Session ID found in SessionHeader: Illegal Session"
            )
        requests = parse_merge(body)
        faulted = await _injected(state)
        if faulted is not None:
            return faulted
        if not state.usage.try_consume():
            raise SoapFault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        results = [await run_in_threadpool(_merge_one, state, item) for item in requests]
    except SoapFault as fault:
        state.count("POST soap 500")
        return Response(fault.to_xml(), status_code=500, media_type=_XML)
    state.count("POST soap 200")
    return Response(merge_response(results), status_code=200, media_type=_XML)


async def _injected(state: SandboxState) -> Response | None:
    """The configured latency, then the configured fault for this call as a SOAP answer."""
    faults = state.faults
    if faults.quiet:
        return None
    delay = faults.latency_s()
    if delay:
        await asyncio.sleep(delay)
    fault = faults.decide(write=True)
    if fault is None:
        return None
    status, headers, soap_fault = _as_soap(fault, state)
    state.count(f"POST soap {status}")
    return Response(soap_fault.to_xml(), status_code=status, media_type=_XML, headers=headers)


def _as_soap(fault: Fault, state: SandboxState) -> tuple[int, dict[str, str], SoapFault]:
    """An injected fault as the SOAP API words it: status, headers and the fault. The SOAP
    API answers a refused call with HTTP 500; only an HTTP error keeps its own status."""
    words = fault_words(fault, state)
    status = 500 if fault.kind in ("limit", "expire", "lock") else words.status
    return status, dict(words.headers), SoapFault(words.code, words.soap_message or words.message)


def _merge_one(state: SandboxState, item: MergeRequest) -> MergeResult:
    """One request in a transaction of its own, as Salesforce runs each."""
    try:
        values = _typed(state, item)
        return state.org.merge(item.sobject, item.master_id, item.loser_ids, values)
    except ApiError as exc:  # an object the org does not have
        return MergeResult(
            None,
            errors=[("INVALID_TYPE", f"sObject type '{item.sobject}' is not supported: {exc}")],
        )


def _typed(state: SandboxState, item: MergeRequest) -> dict[str, Any]:
    """The master's values as the REST layer takes them: numbers and booleans from XML text.

    A text that is no number (or boolean) is passed on as it is, for the write to refuse.
    """
    obj = state.org.schema.get(item.sobject)
    typed: dict[str, Any] = {}
    for name, text in item.values.items():
        f = obj.field(name) if obj is not None else None
        typed[name] = text if f is None or text is None else _from_xml(f, text)
    return typed


def _from_xml(f: FieldDef, text: str) -> Any:
    value = text.strip()
    try:
        if f.type == "int":
            return int(value)
        if f.type in NUMBER_TYPES:
            return float(value)
    except ValueError:
        return text
    if f.type == "boolean":
        return {"true": True, "1": True, "false": False, "0": False}.get(value.lower(), text)
    return text
