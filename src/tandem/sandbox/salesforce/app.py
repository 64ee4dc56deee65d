"""The ASGI application: one pipeline every REST call goes through.

``/services/data/vNN.N/<rest>`` is dispatched by :class:`ApiRouter` (our own small table, so
that Composite can run subrequests through exactly the same handlers). Around each handler:

    bearer token (401) -> API version (404) -> daily allocation (403) -> latency / faults
    -> handler in the thread pool -> ApiError as a JSON array -> any other exception as
    UNKNOWN_EXCEPTION (logged) -> ``Sforce-Limit-Info`` on the way out.

Paths are matched with or without a trailing slash. The token endpoint, SOAP login and the
``/__sandbox`` admin endpoints are plain Starlette routes (see :mod:`.routes`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tandem.sandbox.salesforce.errors import ApiError, MultipleMatches
from tandem.sandbox.salesforce.faults import Fault, FaultInjector
from tandem.sandbox.salesforce.limits import ApiUsage
from tandem.sandbox.salesforce.oauth import Identity, TokenStore
from tandem.sandbox.salesforce.org import Org

__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "ApiCall",
    "ApiRoute",
    "ApiRouter",
    "Reply",
    "SandboxState",
    "build_app",
    "json_bytes",
]

log = logging.getLogger("tandem.sandbox.salesforce")

MIN_VERSION = 42
MAX_VERSION = 66
JSON_TYPE = "application/json;charset=UTF-8"
NOT_FOUND_MESSAGE = "The requested resource does not exist"
_VERSION_RE = re.compile(r"^(\d{2})\.0$")


def json_bytes(body: Any) -> bytes:
    """Serialise a JSON body compactly as UTF-8."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Reply:
    """What a handler answers, before it becomes an HTTP response.

    Attributes:
        status: the HTTP status.
        body: a JSON-able value, or ``bytes``/``str`` sent as is with ``content_type``.
        content_type: the media type of a raw body.
        headers: extra response headers.
    """

    status: int = 200
    body: Any = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """The body as bytes (empty for 204 and ``None``)."""
        if self.body is None or self.status == 204:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json_bytes(self.body)


@dataclass
class SandboxState:
    """Everything the handlers share: the org, identity, sessions, limits, faults, jobs.

    Attributes:
        org: the data core.
        identity: the integration user and connected app.
        tokens: issued access tokens.
        usage: the daily API allocation.
        faults: the fault injector.
        jwt_cert_pem: the connected app's certificate (JWT verification).
        base_url: the sandbox URL (set once the server is bound).
        bulk: the Bulk 2.0 job manager (set by the server; typed loosely to avoid a cycle).
        router: the REST router (Composite runs subrequests through it).
        requests: counters by ``"METHOD kind status"``, for ``/__sandbox/stats``.
    """

    org: Org
    identity: Identity
    tokens: TokenStore
    usage: ApiUsage
    faults: FaultInjector
    jwt_cert_pem: bytes
    base_url: str = ""
    bulk: Any = None
    router: ApiRouter | None = None
    requests: Counter[str] = field(default_factory=Counter)
    stats_lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, key: str) -> None:
        """Add one to a request counter."""
        with self.stats_lock:
            self.requests[key] += 1


@dataclass
class ApiCall:
    """One REST call as the handlers see it.

    Attributes:
        state: the shared sandbox state.
        method: the HTTP method.
        version: the API version without ``v`` (``"59.0"``).
        params: the path parameters of the matched route.
        query: the query string parameters (last value wins).
        headers: the request headers (lower-case names).
        body: the raw request body.
    """

    state: SandboxState
    method: str
    version: str
    params: dict[str, str]
    query: dict[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def major(self) -> int:
        """The major API version (``59`` for ``"59.0"``)."""
        return int(self.version.split(".")[0])

    @property
    def org(self) -> Org:
        """The data core."""
        return self.state.org

    def json(self) -> Any:
        """The body parsed as JSON.

        Raises:
            ApiError: 400 ``JSON_PARSER_ERROR`` for a missing or malformed body.
        """
        if not self.body.strip():
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is empty.")
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(
                400, "JSON_PARSER_ERROR", f"Unexpected character in the JSON body: {exc}"
            ) from exc

    def json_object(self) -> dict[str, Any]:
        """The body parsed as a JSON object.

        Raises:
            ApiError: 400 ``JSON_PARSER_ERROR`` when it is not an object.
        """
        data = self.json()
        if not isinstance(data, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object as the body.")
        return data

    def url(self, path: str) -> str:
        """A path under this call's API version, e.g. ``/services/data/v59.0/<path>``."""
        return f"/services/data/v{self.version}/{path}"


Handler = Callable[[ApiCall], Reply]


@dataclass
class ApiRoute:
    """One REST resource: a path pattern and a handler per method.

    Attributes:
        pattern: like ``sobjects/{sobject}/{record_id}`` (relative to ``vNN.N/``).
        handlers: HTTP method -> handler.
        kind: a short name for statistics and fault decisions.
        per_record_faults: lock faults are drawn per record by the handler.
        lockable: writes here may draw a request-level ``UNABLE_TO_LOCK_ROW``.
    """

    pattern: str
    handlers: dict[str, Handler]
    kind: str
    per_record_faults: bool = False
    lockable: bool = False
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        parts = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.pattern)
        self.regex = re.compile(f"^{parts}$")


class ApiRouter:
    """Matches the path after ``vNN.N/`` against :class:`ApiRoute` entries, in order."""

    def __init__(self, routes: list[ApiRoute]) -> None:
        self.routes = routes

    def match(self, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        """Return the first route matching ``path`` and its decoded params.

        Args:
            path: the percent-encoded path after ``vNN.N/``, without leading/trailing slash.
        """
        for route in self.routes:
            found = route.regex.match(path)
            if found:
                return route, {key: unquote(value) for key, value in found.groupdict().items()}
        return None

    def call(self, call: ApiCall, path: str) -> Reply:
        """Run the handler for ``path`` (used directly by Composite subrequests).

        Raises:
            ApiError: 404 ``NOT_FOUND`` or 405 ``METHOD_NOT_ALLOWED``, or the handler's error.
        """
        matched = self.match(path)
        if matched is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        route, params = matched
        handler = route.handlers.get(call.method)
        if handler is None:
            allowed = ",".join(sorted(route.handlers))
            raise ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{call.method}' not allowed. Allowed are {allowed}",
            )
        call.params = params
        return handler(call)


def error_reply(exc: ApiError) -> Reply:
    """The HTTP answer to an :class:`ApiError` (a 300 lists the matching record URLs)."""
    if isinstance(exc, MultipleMatches):
        return Reply(300, exc.matches)
    return Reply(exc.status, exc.to_json())


def unknown_error_reply(error_id: str) -> Reply:
    """The answer to an unexpected exception: no traceback leaves the server.

    Args:
        error_id: the id also written to the sandbox log with the traceback.
    """
    return Reply(
        500,
        [
            {
                "errorCode": "UNKNOWN_EXCEPTION",
                "message": "An unexpected error occurred. Please include this ErrorId if you "
                f"contact support: {error_id}",
            }
        ],
    )


def new_error_id() -> str:
    """A Salesforce-looking ErrorId such as ``1234567-8901 (-123456789)``."""
    first, second = secrets.randbelow(10**7), secrets.randbelow(10**5)
    return f"{first:07d}-{second:05d} (-{secrets.randbelow(10**9)})"


@dataclass(frozen=True)
class FaultWords:
    """How Salesforce words an injected fault: the REST status, the error code, the message
    (the REST one, and the SOAP one where the SOAP API words it otherwise) and headers."""

    status: int
    code: str
    message: str
    soap_message: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def fault_words(fault: Fault, state: SandboxState, record_id: str | None = None) -> FaultWords:
    """The words of an injected fault, for a REST or a SOAP answer alike; an expiring session
    is expired here (``record_id`` names the locked record, if known)."""
    if fault.kind == "limit":
        return FaultWords(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if fault.kind == "expire":
        state.tokens.expire_all()
        return FaultWords(
            401,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
            "Invalid Session ID found in SessionHeader: Illegal Session",
        )
    if fault.kind == "lock":
        return FaultWords(
            400,
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records: "
            f"{record_id or '001000000000000AAA'}",
            "unable to obtain exclusive access to this record or 1 records",
        )
    if fault.status == 503:
        return FaultWords(
            503,
            "SERVER_UNAVAILABLE",
            "Server temporarily unavailable. Try again later.",
            headers={"Retry-After": str(state.faults.config.retry_after_s)},
        )
    return FaultWords(
        fault.status,
        "UNKNOWN_EXCEPTION",
        "An unexpected error occurred (injected fault).",
        "An unexpected error occurred.",
    )


def fault_reply(fault: Fault, state: SandboxState, record_id: str | None = None) -> Reply:
    """The REST answer to an injected fault (``record_id`` names the locked record, if known)."""
    words = fault_words(fault, state, record_id)
    return Reply(
        words.status,
        [{"errorCode": words.code, "message": words.message}],
        headers=dict(words.headers),
    )


def to_response(reply: Reply) -> Response:
    """Turn a :class:`Reply` into a Starlette response (``Sforce-Limit-Info`` is added later)."""
    headers = dict(reply.headers)
    media = reply.content_type if reply.status != 204 and reply.body is not None else None
    return Response(reply.encoded(), status_code=reply.status, headers=headers, media_type=media)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer``/``OAuth`` header, if any."""
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return None


def _raw_rest(scope: Scope) -> str:
    """The still percent-encoded path after ``/services/data/vNN.N/``.

    Route parameters are decoded only after matching, so an external ID value holding an
    encoded ``/`` stays one segment.
    """
    raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    parts = raw.split("/", 4)  # "", "services", "data", "vNN.N", rest
    return parts[4].strip("/") if len(parts) == 5 else ""


def _parse_version(raw: str) -> str | None:
    found = _VERSION_RE.match(raw)
    if found and MIN_VERSION <= int(found.group(1)) <= MAX_VERSION:
        return raw
    return None


class RestEndpoint:
    """The Starlette endpoint behind ``/services/data/v{version}/{rest:path}``."""

    def __init__(self, router: ApiRouter) -> None:
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one REST call (ASGI)."""
        request = Request(scope, receive)
        state: SandboxState = request.app.state.sandbox
        reply = await self._serve(request, state)
        await to_response(reply)(scope, receive, send)

    async def _serve(self, request: Request, state: SandboxState) -> Reply:
        method = request.method
        version = _parse_version(request.path_params["version"])
        path = _raw_rest(request.scope)
        token = bearer_token(request.headers)
        if token is None or not state.tokens.is_valid(token):
            state.count(f"{method} auth 401")
            return Reply(
                401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            )
        if version is None:
            state.count(f"{method} unknown 404")
            return Reply(404, [{"errorCode": "NOT_FOUND", "message": NOT_FOUND_MESSAGE}])
        if not state.usage.try_consume():
            state.count(f"{method} limit 403")
            return Reply(
                403,
                [
                    {
                        "message": "TotalRequests Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
            )
        matched = self.router.match(path)
        kind = matched[0].kind if matched else "unknown"
        faults = state.faults
        if not faults.quiet:
            delay = faults.latency_s()
            if delay:
                await asyncio.sleep(delay)
            route = matched[0] if matched else None
            fault = faults.decide(
                write=method != "GET" and route is not None and route.lockable,
                per_record=route is not None and route.per_record_faults,
            )
            if fault is not None:
                record_id = matched[1].get("record_id") if matched else None
                reply = fault_reply(fault, state, record_id)
                state.count(f"{method} {kind} {reply.status}")
                return reply
        call = ApiCall(
            state=state,
            method=method,
            version=version,
            params={},
            query=dict(parse_qsl(request.url.query, keep_blank_values=True)),
            headers=request.headers,
            body=await request.body(),
        )
        reply = await run_in_threadpool(run_handler, self.router, call, path)
        state.count(f"{method} {kind} {reply.status}")
        return reply


def run_handler(router: ApiRouter, call: ApiCall, path: str) -> Reply:
    """Run a handler, turning every exception into a Salesforce error reply."""
    try:
        return router.call(call, path)
    except ApiError as exc:
        return error_reply(exc)
    except Exception:
        error_id = new_error_id()
        log.exception("ErrorId %s: unexpected error serving %s %s", error_id, call.method, path)
        return unknown_error_reply(error_id)


class _Envelope:
    """ASGI wrapper for what every answer shares.

    A trailing slash never matters (``/a/b/`` routes as ``/a/b``, as Salesforce accepts both),
    and every response carries ``Sforce-Limit-Info`` with the count as it stands once the call
    was counted, and a ``Date`` by the org's clock (the clock its ``SystemModstamp``s show),
    as a real org's front end sends its own servers' time.
    """

    def __init__(self, app: ASGIApp, usage: ApiUsage, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.usage = usage
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            raw: bytes = scope.get("raw_path") or path.encode()
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            scope["raw_path"] = raw.rstrip(b"/") or b"/"

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"sforce-limit-info", self.usage.header().encode()),
                    (b"date", format_datetime(self.clock().astimezone(UTC), usegmt=True).encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_limits)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """Last resort for the non-REST routes: a Salesforce-shaped 500, never a traceback."""
    error_id = new_error_id()
    log.error(
        "ErrorId %s: unexpected error serving %s %s",
        error_id,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return to_response(unknown_error_reply(error_id))


def build_app(state: SandboxState, router: ApiRouter, extra_routes: list[Route]) -> ASGIApp:
    """Assemble the ASGI application.

    Args:
        state: the shared state (kept on ``app.state.sandbox``).
        router: the REST resources under ``/services/data/vNN.N/``.
        extra_routes: the non-REST routes (token, SOAP, versions, admin, catch-all last).

    Returns:
        The application, wrapped so that a trailing slash never matters.
    """
    rest = Route("/services/data/v{version}/{rest:path}", RestEndpoint(router))
    versioned_root = Route("/services/data/v{version}", RestEndpoint(router))
    app = Starlette(
        routes=[rest, versioned_root, *extra_routes],
        exception_handlers={Exception: _unexpected},
    )
    app.state.sandbox = state
    return _Envelope(app, state.usage, state.org.now)
