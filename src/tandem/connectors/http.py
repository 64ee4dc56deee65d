"""The shared HTTP transport every HTTP connector sends through.

One place for what every vendor call needs, so connectors stay about their system:

* **retries** with exponential backoff and full jitter, honouring ``Retry-After``
  (:class:`RetryPolicy`);
* **error resolution as data**: an HTTP status and the vendor's error code become an
  :class:`ErrorResolution` (``retry`` / ``refresh_auth`` / ``reject`` / ``fatal``) by looking them
  up in a table of :class:`ResolutionRule` (first match wins);
* **auth**: an :class:`Authenticator` supplies headers; on ``refresh_auth`` the token is renewed
  and the call retried once, a second refusal is :class:`~tandem.errors.Fatal`;
* **quota**: a :class:`CallGate` (the quota governor) is asked before every call and shown every
  response;
* **secrets** are filtered from every message this module raises or logs (:class:`SecretFilter`);
* **stopping**: within :func:`waits_cut_short_by`, a wait between tries (a ``Retry-After`` of
  up to two minutes) ends as soon as the agent is told to stop, raising
  :class:`~tandem.errors.Stopping` instead of trying again; the quota governor's wait for the
  budget and a Bulk job's polls end the same way (:func:`wait_unless_stopping`).

Vendor exceptions (``httpx``) are translated at this boundary into :mod:`tandem.errors`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

import httpx

from tandem.errors import Fatal, RecordRejected, Retriable, Stopping

__all__ = [
    "DEFAULT_RULES",
    "Action",
    "Authenticator",
    "CallGate",
    "ErrorDetail",
    "ErrorParser",
    "ErrorResolution",
    "HttpTransport",
    "InFlight",
    "ResolutionRule",
    "RetryPolicy",
    "SecretFilter",
    "in_flight",
    "parse_retry_after",
    "resolve",
    "stopping_now",
    "wait_unless_stopping",
    "wait_unless_stopping_now",
    "waits_cut_short_by",
]

logger = logging.getLogger(__name__)

Action = Literal["retry", "refresh_auth", "reject", "fatal"]
"""What the caller does with a failed response."""

Sleep = Callable[[float], Awaitable[None]]
Body = bytes | str | Callable[[], AsyncIterator[bytes]]

_stop: ContextVar[asyncio.Event | None] = ContextVar("tandem_http_stop", default=None)
"""The event that cuts waits between tries short, in the task and the tasks it starts."""
_now: ContextVar[asyncio.Event | None] = ContextVar("tandem_http_stop_now", default=None)
"""The event set when the agent is told to stop at once (a second signal): graces end."""


class InFlight:
    """Work handed to a system that a stop at once calls off (Bulk jobs not collected).

    Each piece is called off once: by whoever :meth:`take` s it first.
    """

    def __init__(self) -> None:
        self._cancels: dict[str, Callable[[], Awaitable[object]]] = {}

    def add(self, key: str, cancel: Callable[[], Awaitable[object]]) -> None:
        """Hold ``cancel`` for the work ``key`` until it is taken."""
        self._cancels[key] = cancel

    def take(self, key: str) -> bool:
        """Let go of ``key``; whether it was still held (the caller may call it off)."""
        return self._cancels.pop(key, None) is not None

    def __len__(self) -> int:
        return len(self._cancels)

    async def cancel_all(self, within: float) -> None:
        """Call off everything held, together, for at most ``within`` seconds (best effort:
        a failing call is logged and left)."""
        cancels = list(self._cancels.values())
        self._cancels.clear()
        if not cancels:
            return
        tasks = [asyncio.ensure_future(cancel()) for cancel in cancels]
        done, pending = await asyncio.wait(tasks, timeout=within)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                logger.info("work in flight not called off: %s", task.exception())
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


_in_flight: ContextVar[InFlight | None] = ContextVar("tandem_http_in_flight", default=None)
"""Work handed to a system, to call off when the agent stops at once."""


@contextmanager
def waits_cut_short_by(
    stop: asyncio.Event,
    now: asyncio.Event | None = None,
    in_flight: InFlight | None = None,
) -> Iterator[None]:
    """Within (and in every task started within): a wait between tries ends once ``stop`` is
    set, and the call raises :class:`~tandem.errors.Stopping` instead of trying again.

    ``now``: set when the agent is to stop at once; a grace given after ``stop`` (see
    :func:`wait_unless_stopping_now`) ends. ``in_flight``: where work handed to a system is
    held, to be called off on a stop at once (see :func:`in_flight`). Either, when not given,
    is the enclosing scope's: a scope opened within the CLI's (the engine's, around each pass
    of a run) keeps its stop at once and the jobs it holds.
    """
    now = now if now is not None else _now.get()
    in_flight = in_flight if in_flight is not None else _in_flight.get()
    tokens = (_stop.set(stop), _now.set(now), _in_flight.set(in_flight))
    try:
        yield
    finally:
        _in_flight.reset(tokens[2])
        _now.reset(tokens[1])
        _stop.reset(tokens[0])


def stopping() -> bool:
    """Whether the agent was told to stop (within :func:`waits_cut_short_by`)."""
    stop = _stop.get()
    return stop is not None and stop.is_set()


def stopping_now() -> bool:
    """Whether the agent was told to stop at once (a second signal)."""
    now = _now.get()
    return now is not None and now.is_set()


def in_flight() -> InFlight | None:
    """Where work handed to a system is held for a stop at once (None: outside a stop scope)."""
    return _in_flight.get()


async def wait_unless_stopping(sleep: Sleep, seconds: float) -> bool:
    """``sleep(seconds)``, unless the agent is told to stop first (see
    :func:`waits_cut_short_by`); ``False`` when it was (or already had been)."""
    return await _wait_unless(_stop.get(), sleep, seconds)


async def wait_unless_stopping_now(sleep: Sleep, seconds: float) -> bool:
    """``sleep(seconds)``, unless the agent is told to stop at once first; ``False`` when it
    was (or already had been)."""
    return await _wait_unless(_now.get(), sleep, seconds)


async def _wait_unless(stop: asyncio.Event | None, sleep: Sleep, seconds: float) -> bool:
    if stop is None:
        await sleep(seconds)
        return True
    if stop.is_set():
        return False
    sleeper = asyncio.ensure_future(sleep(seconds))
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((sleeper, stopped), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (sleeper, stopped):
            waiter.cancel()
        await asyncio.gather(sleeper, stopped, return_exceptions=True)
    if stop.is_set():
        return False
    sleeper.result()  # a failing sleep's error
    return True


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """What a vendor said about a failure, parsed from its response body.

    Attributes:
        code: the vendor's error code (``UNABLE_TO_LOCK_ROW``, ``invalid_grant``), if any.
        message: the vendor's human text.
        fields: the fields the vendor named.
    """

    code: str | None
    message: str
    fields: tuple[str, ...] = ()


ErrorParser = Callable[[httpx.Response], ErrorDetail]


@dataclass(frozen=True, slots=True)
class ErrorResolution:
    """The action one failure resolves to, with a short reason."""

    action: Action
    reason: str


@dataclass(frozen=True, slots=True)
class ResolutionRule:
    """One row of an error-resolution table; ``None`` matches anything.

    Attributes:
        action: what to do when the row matches.
        reason: a short human reason, quoted in errors and logs.
        status: the HTTP status, or ``None``.
        status_class: ``5`` matches every 5xx; ``None`` matches any.
        code: the vendor error code, or ``None``.
        message_contains: a case-insensitive substring of the vendor message, or ``None``.
    """

    action: Action
    reason: str
    status: int | None = None
    status_class: int | None = None
    code: str | None = None
    message_contains: str | None = None

    def matches(self, status: int, detail: ErrorDetail) -> bool:
        """Return whether this row applies to ``status`` and ``detail``."""
        if self.status is not None and status != self.status:
            return False
        if self.status_class is not None and status // 100 != self.status_class:
            return False
        if self.code is not None and detail.code != self.code:
            return False
        return self.message_contains is None or (
            self.message_contains.lower() in detail.message.lower()
        )


DEFAULT_RULES: tuple[ResolutionRule, ...] = (
    ResolutionRule("retry", "request timed out", status=408),
    ResolutionRule("retry", "rate limited", status=429),
    ResolutionRule("retry", "server error", status_class=5),
    ResolutionRule("refresh_auth", "session expired", status=401),
    ResolutionRule("fatal", "permission refused", status=403),
    ResolutionRule("fatal", "not found", status=404),
    ResolutionRule("fatal", "request refused", status_class=4),
)
"""Vendor-neutral rules; connectors put their code-specific rows in front of these."""

_UNMATCHED = ErrorResolution("fatal", "unexpected response")


def resolve(rules: Iterable[ResolutionRule], status: int, detail: ErrorDetail) -> ErrorResolution:
    """Look ``status`` and ``detail`` up in ``rules``; the first matching row wins.

    Args:
        rules: the table, most specific rows first.
        status: the HTTP status (``0`` for a transport failure without a response).
        detail: the parsed vendor error.

    Returns:
        The resolution; ``fatal`` when no row matches.
    """
    for rule in rules:
        if rule.matches(status, detail):
            return ErrorResolution(rule.action, rule.reason)
    return _UNMATCHED


def _unbind(response: httpx.Response) -> None:
    """Break the reference cycle of a response read in full.

    httpx (0.28) leaves a response's ``stream`` bound to the response itself, so a response
    and its body are freed only by a garbage collection, which the CLI makes rare for batch
    work (:func:`tandem.cli.common.tune_collector`): a Bulk job's result file would then stay
    in memory long after it was read. The body, read already, becomes the stream instead.
    """
    response.stream = httpx.ByteStream(response.content)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class SecretFilter:
    """Replaces every known secret in a text by ``***``.

    Secrets are taken from a callable at each use, so a token renewed later is filtered too.
    """

    def __init__(self, secrets: Callable[[], Iterable[str | None]] = lambda: ()) -> None:
        self._secrets = secrets

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret (4+ characters) masked."""
        for secret in sorted((s for s in self._secrets() if s and len(s) >= 4), key=len)[::-1]:
            text = text.replace(secret, "***")
        # Bearer tokens and JWT assertions we were never told about.
        return _BEARER.sub("Bearer ***", text)


_BEARER = re.compile(r"Bearer\s+[A-Za-z0-9._~+/!=-]{8,}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` is a lower bound.

    The n-th retry (0-based) waits ``uniform(0, min(cap, base * 2**n))`` seconds, or the
    server's ``Retry-After`` when that is longer. A ``Retry-After`` beyond ``max_retry_after``
    is not slept through here: the call raises :class:`~tandem.errors.Retriable` carrying it.

    Attributes:
        max_retries: retries after the first attempt before giving up with ``Retriable``.
        base: the first backoff ceiling, seconds.
        cap: the largest backoff ceiling, seconds.
        max_retry_after: the longest ``Retry-After`` waited in place, seconds.
    """

    max_retries: int = 5
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.cap, self.base * (2**attempt))
        jittered = rng.uniform(0.0, ceiling)
        return max(jittered, retry_after) if retry_after is not None else jittered


class Authenticator(Protocol):
    """Supplies auth headers and renews them when the vendor says the session expired."""

    async def headers(self) -> Mapping[str, str]:
        """Headers proving who we are (authenticating first if needed)."""

    async def refresh(self, stale: Mapping[str, str]) -> None:
        """Renew the credentials unless someone already replaced ``stale``."""


class CallGate(Protocol):
    """The quota governor as the transport sees it."""

    async def acquire(self) -> None:
        """Wait for, or refuse (``Fatal``), permission to make one more API call."""

    def observe(self, response: httpx.Response) -> None:
        """Learn from a response's headers (e.g. ``Sforce-Limit-Info``)."""


def _default_parser(response: httpx.Response) -> ErrorDetail:
    return ErrorDetail(None, response.text[:500])


class HttpTransport:
    """Sends requests with retries, auth renewal, quota gating and secret filtering.

    Args:
        client: the ``httpx.AsyncClient`` (owned by the caller, who closes it).
        system: system name for errors, e.g. ``salesforce``.
        rules: the error-resolution table.
        parse_error: turns a failed response into an :class:`ErrorDetail`.
        policy: retry knobs.
        auth: the authenticator, or ``None`` for anonymous calls.
        gate: the quota governor, or ``None``.
        secrets: the filter applied to every message.
        sleep: the sleep function (tests inject a fake).
        rng: the jitter source (tests inject a deterministic one).
        headers: headers sent with every request.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        system: str,
        rules: Sequence[ResolutionRule] = DEFAULT_RULES,
        parse_error: ErrorParser = _default_parser,
        policy: RetryPolicy | None = None,
        auth: Authenticator | None = None,
        gate: CallGate | None = None,
        secrets: SecretFilter | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.system = system
        self.rules = tuple(rules)
        self.parse_error = parse_error
        self.policy = policy or RetryPolicy()
        self.auth = auth
        self.gate = gate
        self.redact = secrets or SecretFilter()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.headers = dict(headers or {})

    async def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        content: Body | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        governed: bool = True,
        record: str | None = None,
        rules: Sequence[ResolutionRule] | None = None,
        parse_error: ErrorParser | None = None,
        basic_auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request, retrying as the resolution table says.

        Args:
            method: HTTP method.
            url: absolute URL, or relative to the client's base URL.
            operation: what is being done, for errors (``upsert Account``).
            params: query parameters.
            content: the body: bytes, text, or a factory of an async byte stream (called once
                per attempt, so a streamed upload can be retried).
            data: a form body.
            headers: extra headers for this request.
            authenticated: send the authenticator's headers and renew them on ``refresh_auth``.
            governed: ask the quota governor first (the token endpoint is not an API call).
            record: the record a ``reject`` resolution names.
            rules: a table overriding the transport's for this request.
            parse_error: an error parser overriding the transport's for this request.
            basic_auth: HTTP Basic credentials for this request.

        Returns:
            The first response with a status below 300.

        Raises:
            Retriable: retries ran out or the server asked for a long wait.
            Fatal: the table says so, or the session was refused again after one renewal.
            RecordRejected: the table resolved the failure to ``reject``.
        """
        table = self.rules if rules is None else tuple(rules)
        parser = parse_error or self.parse_error
        refreshed = False
        attempt = 0
        while True:
            if governed and self.gate is not None:
                await self.gate.acquire()
            sent_headers = {**self.headers, **(headers or {})}
            if authenticated and self.auth is not None:
                sent_headers.update(await self.auth.headers())
            body = content() if callable(content) else content
            retry_after: float | None = None
            try:
                response = await self.client.request(
                    method,
                    url,
                    params=params,
                    content=body,
                    data=data,
                    headers=sent_headers,
                    auth=httpx.BasicAuth(*basic_auth) if basic_auth else httpx.USE_CLIENT_DEFAULT,
                )
                _unbind(response)
            except httpx.TimeoutException as exc:
                status, detail = 0, ErrorDetail("TIMEOUT", f"timed out: {type(exc).__name__}")
                resolution = ErrorResolution("retry", "request timed out")
            except httpx.TransportError as exc:
                status, detail = 0, ErrorDetail("CONNECTION", f"{type(exc).__name__}: {exc}")
                resolution = ErrorResolution("retry", "connection failed")
            else:
                if self.gate is not None and governed:
                    self.gate.observe(response)
                if response.status_code < 300:
                    return response
                status, detail = response.status_code, parser(response)
                resolution = resolve(table, status, detail)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            message = self._describe(status, detail, resolution)
            if resolution.action == "retry":
                if retry_after is not None and retry_after > self.policy.max_retry_after:
                    raise self._retriable(
                        f"{message} (the server asks to wait {retry_after:.0f} s before the "
                        f"next try, longer than the {self.policy.max_retry_after:.0f} s "
                        "waited in place: a later pass tries again)",
                        operation,
                        detail,
                        retry_after,
                    )
                if attempt >= self.policy.max_retries:
                    raise self._retriable(
                        f"{message} (gave up after {attempt + 1} attempts)",
                        operation,
                        detail,
                        retry_after,
                    )
                wait = self.policy.delay(attempt, retry_after, self.rng)
                logger.warning(
                    "%s %s: %s; retry %d in %.2fs",
                    self.system,
                    operation,
                    message,
                    attempt + 1,
                    wait,
                )
                if not await wait_unless_stopping(self.sleep, wait):
                    raise Stopping(
                        f"{message} (not tried again: the agent is stopping)",
                        system=self.system,
                        operation=operation,
                        code=detail.code,
                        retry_after=retry_after,
                    )
                attempt += 1
                # A renewed session that met a transient failure was not refused: a 401 after
                # it is a session that expired again, renewed once more (retries bound this).
                refreshed = False
                continue
            if resolution.action == "refresh_auth" and authenticated and self.auth is not None:
                if refreshed:
                    raise Fatal(
                        f"{message}; refused again after renewing the session",
                        system=self.system,
                        operation=operation,
                        code=detail.code,
                    )
                logger.info("%s %s: session expired, renewing", self.system, operation)
                await self.auth.refresh(sent_headers)
                refreshed = True
                continue
            if resolution.action == "reject":
                field = detail.fields[0] if detail.fields else None
                raise RecordRejected(
                    message,
                    system=self.system,
                    operation=operation,
                    record=record or "-",
                    code=detail.code,
                    field=field,
                )
            raise Fatal(message, system=self.system, operation=operation, code=detail.code)

    def _describe(self, status: int, detail: ErrorDetail, resolution: ErrorResolution) -> str:
        where = f"HTTP {status}" if status else "no response"
        code = f" {detail.code}" if detail.code else ""
        return self.redact(f"{resolution.reason} ({where}{code}): {detail.message}")

    def _retriable(
        self, message: str, operation: str, detail: ErrorDetail, retry_after: float | None
    ) -> Retriable:
        return Retriable(
            message,
            system=self.system,
            operation=operation,
            code=detail.code,
            retry_after=retry_after,
        )
