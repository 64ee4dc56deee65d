"""``/__sandbox/...``: run-time control of the sandbox (not part of Salesforce's API).

Every call needs ``Authorization: Bearer <admin_token>`` (from ``sandbox.json``).

- ``GET /__sandbox/faults``: the active fault configuration (with its seed) and counters.
- ``POST /__sandbox/faults``: replace it (a :class:`~..faults.FaultConfig` JSON object);
  ``DELETE`` switches faults off.
- ``POST /__sandbox/expire-sessions``: invalidate every access token now.
- ``POST /__sandbox/limits``: ``{"daily_limit": N, "reset": true}``.
- ``GET /__sandbox/stats``: request counters, API usage, faults, Bulk jobs.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from tandem.sandbox.salesforce.app import Reply, SandboxState, bearer_token, to_response
from tandem.sandbox.salesforce.faults import FaultConfig

__all__ = ["expire_sessions", "faults", "limits", "not_found", "stats"]


def _admin(request: Request) -> SandboxState | Response:
    state: SandboxState = request.app.state.sandbox
    token = bearer_token(request.headers) or ""
    if not hmac.compare_digest(token, state.identity.admin_token):
        return to_response(
            Reply(401, [{"errorCode": "INVALID_SESSION_ID", "message": "admin token required"}])
        )
    return state


async def _json(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


def _bad(message: str) -> Response:
    return to_response(Reply(400, [{"errorCode": "INVALID_INPUT", "message": message}]))


async def faults(request: Request) -> Response:
    """``GET|POST|DELETE /__sandbox/faults``."""
    state = _admin(request)
    if isinstance(state, Response):
        return state
    if request.method == "POST":
        try:
            config = FaultConfig.model_validate(await _json(request))
        except (ValidationError, json.JSONDecodeError) as exc:
            return _bad(f"invalid fault configuration: {exc}")
        state.faults.configure(config)
    elif request.method == "DELETE":
        state.faults.configure(FaultConfig(seed=0))
    return to_response(Reply(200, state.faults.snapshot()))


async def expire_sessions(request: Request) -> Response:
    """``POST /__sandbox/expire-sessions``."""
    state = _admin(request)
    if isinstance(state, Response):
        return state
    return to_response(Reply(200, {"expired": state.tokens.expire_all()}))


async def limits(request: Request) -> Response:
    """``POST /__sandbox/limits``: change the daily allocation and/or reset the count."""
    state = _admin(request)
    if isinstance(state, Response):
        return state
    try:
        body = await _json(request)
    except json.JSONDecodeError as exc:
        return _bad(f"invalid JSON: {exc}")
    if not isinstance(body, dict):
        return _bad("expected a JSON object")
    daily = body.get("daily_limit")
    if daily is not None:
        if not isinstance(daily, int) or daily < 0:
            return _bad("daily_limit must be a non-negative integer")
        state.usage.set_limit(daily)
    if body.get("reset"):
        state.usage.reset()
    return to_response(Reply(200, {"max": state.usage.maximum, "used": state.usage.used}))


async def stats(request: Request) -> Response:
    """``GET /__sandbox/stats``."""
    state = _admin(request)
    if isinstance(state, Response):
        return state
    with state.stats_lock:
        counters = dict(sorted(state.requests.items()))
    jobs: dict[str, int] = {}
    if state.bulk is not None:
        for kind in ("ingest", "query"):
            for info in state.bulk.list_jobs(kind):
                key = f"{kind} {info['state']}"
                jobs[key] = jobs.get(key, 0) + 1
    body = {
        "requests": counters,
        "api_usage": {"used": state.usage.used, "max": state.usage.maximum},
        "faults": state.faults.snapshot(),
        "bulk_jobs": jobs,
    }
    return to_response(Reply(200, body))


async def not_found(request: Request) -> Response:
    """Any path the sandbox does not serve: Salesforce's NOT_FOUND body."""
    body = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
    return to_response(Reply(404, body))
