"""The shared HTTP transport: backoff, Retry-After, the resolution table, auth renewal, secrets."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
import pytest

from tandem.connectors.http import (
    DEFAULT_RULES,
    ErrorDetail,
    HttpTransport,
    ResolutionRule,
    RetryPolicy,
    SecretFilter,
    parse_retry_after,
    resolve,
)
from tandem.errors import Fatal, RecordRejected, Retriable

SECRET = "hunter2-very-secret"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class TopRng:
    def uniform(self, a: float, b: float) -> float:
        return b


class Replies:
    """Answers requests from a fixed list; a request beyond it fails the test."""

    def __init__(self, *replies: httpx.Response | Exception) -> None:
        self.replies = list(replies)
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        assert self.replies, f"unexpected request {request.method} {request.url}"
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def make(
    replies: Replies, sleeps: Sleeps, **kwargs: object
) -> tuple[HttpTransport, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(replies))
    transport = HttpTransport(
        client,
        system="crm",
        policy=RetryPolicy(max_retries=4, base=0.5, cap=4.0, max_retry_after=60),
        sleep=sleeps,
        rng=TopRng(),  # type: ignore[arg-type]
        secrets=SecretFilter(lambda: [SECRET]),
        **kwargs,  # type: ignore[arg-type]
    )
    return transport, client


async def test_exponential_backoff_with_cap() -> None:
    sleeps = Sleeps()
    replies = Replies(*(httpx.Response(500) for _ in range(4)), httpx.Response(200, text="ok"))
    transport, client = make(replies, sleeps)
    response = await transport.request("GET", "https://x.test/a", operation="read")
    assert response.text == "ok"
    assert sleeps.delays == [0.5, 1.0, 2.0, 4.0]
    await client.aclose()


async def test_full_jitter_stays_under_the_ceiling() -> None:
    policy = RetryPolicy(base=1.0, cap=10.0)
    import random

    rng = random.Random(7)
    for attempt in range(8):
        assert 0.0 <= policy.delay(attempt, None, rng) <= min(10.0, 2**attempt)


async def test_retry_after_is_honoured_as_a_lower_bound() -> None:
    sleeps = Sleeps()
    replies = Replies(httpx.Response(503, headers={"Retry-After": "7"}), httpx.Response(200))
    transport, client = make(replies, sleeps)
    await transport.request("GET", "https://x.test/a", operation="read")
    assert sleeps.delays == [7.0]
    await client.aclose()


async def test_long_retry_after_is_handed_to_the_caller() -> None:
    sleeps = Sleeps()
    replies = Replies(httpx.Response(429, headers={"Retry-After": "3600"}))
    transport, client = make(replies, sleeps)
    with pytest.raises(Retriable) as info:
        await transport.request("GET", "https://x.test/a", operation="read")
    assert info.value.retry_after == 3600
    assert "wait 3600 s" in str(info.value) and "60 s waited in place" in str(info.value)
    assert sleeps.delays == []
    await client.aclose()


async def test_gives_up_with_retriable_after_max_retries() -> None:
    sleeps = Sleeps()
    replies = Replies(*(httpx.Response(502) for _ in range(5)))
    transport, client = make(replies, sleeps)
    with pytest.raises(Retriable, match="gave up after 5 attempts"):
        await transport.request("GET", "https://x.test/a", operation="read")
    assert len(replies.seen) == 5
    assert len(sleeps.delays) == 4
    await client.aclose()


async def test_timeouts_and_connection_errors_are_retried() -> None:
    sleeps = Sleeps()
    replies = Replies(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.Response(200))
    transport, client = make(replies, sleeps)
    await transport.request("GET", "https://x.test/a", operation="read")
    assert sleeps.delays == [0.5, 1.0]
    await client.aclose()


def test_resolution_table_first_match_wins() -> None:
    rules = (
        ResolutionRule("retry", "locked", code="UNABLE_TO_LOCK_ROW"),
        ResolutionRule("retry", "concurrent", code="LIMIT", message_contains="concurrent"),
        ResolutionRule("fatal", "daily", code="LIMIT"),
        ResolutionRule("reject", "bad", code="DUPLICATE_VALUE"),
        *DEFAULT_RULES,
    )
    assert resolve(rules, 400, ErrorDetail("UNABLE_TO_LOCK_ROW", "")).action == "retry"
    assert resolve(rules, 403, ErrorDetail("LIMIT", "ConcurrentPerOrg")).action == "retry"
    assert resolve(rules, 403, ErrorDetail("LIMIT", "TotalRequests")).action == "fatal"
    assert resolve(rules, 400, ErrorDetail("DUPLICATE_VALUE", "")).action == "reject"
    assert resolve(rules, 503, ErrorDetail(None, "")).action == "retry"
    assert resolve(rules, 429, ErrorDetail(None, "")).action == "retry"
    assert resolve(rules, 401, ErrorDetail(None, "")).action == "refresh_auth"
    assert resolve(rules, 404, ErrorDetail(None, "")).action == "fatal"
    assert resolve(rules, 302, ErrorDetail(None, "")).action == "fatal"  # unmatched


class CountingAuth:
    def __init__(self) -> None:
        self.refreshes = 0
        self.token = "tok-1"

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def refresh(self, stale: Mapping[str, str]) -> None:
        self.refreshes += 1
        self.token = f"tok-{self.refreshes + 1}"


async def test_refresh_auth_then_retry_once() -> None:
    sleeps = Sleeps()
    auth = CountingAuth()
    replies = Replies(httpx.Response(401), httpx.Response(200))
    transport, client = make(replies, sleeps, auth=auth)
    await transport.request("GET", "https://x.test/a", operation="read")
    assert auth.refreshes == 1
    assert [r.headers["Authorization"] for r in replies.seen] == ["Bearer tok-1", "Bearer tok-2"]
    await client.aclose()


async def test_second_refusal_after_refresh_is_fatal() -> None:
    sleeps = Sleeps()
    auth = CountingAuth()
    replies = Replies(httpx.Response(401), httpx.Response(401))
    transport, client = make(replies, sleeps, auth=auth)
    with pytest.raises(Fatal, match="refused again"):
        await transport.request("GET", "https://x.test/a", operation="read")
    assert auth.refreshes == 1
    await client.aclose()


async def test_a_session_expiring_again_after_a_retry_is_renewed_again() -> None:
    # A renewed token that met a 5xx was never refused: a 401 after the retry is a session
    # that expired again (an org expiring sessions often), renewed once more, not a refusal.
    sleeps = Sleeps()
    auth = CountingAuth()
    replies = Replies(
        httpx.Response(401), httpx.Response(503), httpx.Response(401), httpx.Response(200)
    )
    transport, client = make(replies, sleeps, auth=auth)
    await transport.request("GET", "https://x.test/a", operation="read")
    assert auth.refreshes == 2
    assert [r.headers["Authorization"] for r in replies.seen] == [
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-2",
        "Bearer tok-3",
    ]
    await client.aclose()


async def test_reject_names_record_and_field() -> None:
    def parser(response: httpx.Response) -> ErrorDetail:
        return ErrorDetail("DUPLICATE_VALUE", "duplicate value found", ("Email",))

    rules = (ResolutionRule("reject", "record refused", code="DUPLICATE_VALUE"), *DEFAULT_RULES)
    replies = Replies(httpx.Response(400))
    transport, client = make(replies, Sleeps(), rules=rules, parse_error=parser)
    with pytest.raises(RecordRejected) as info:
        await transport.request("POST", "https://x.test/a", operation="create", record="R-1")
    assert (info.value.record, info.value.field, info.value.code) == (
        "R-1",
        "Email",
        "DUPLICATE_VALUE",
    )
    await client.aclose()


async def test_secrets_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = f"upstream said: password={SECRET}; Authorization: Bearer abcdefghijklmnop"
    replies = Replies(httpx.Response(500, text=body), httpx.Response(400, text=body))
    transport, client = make(replies, Sleeps())
    with pytest.raises(Fatal) as info:
        await transport.request("GET", "https://x.test/a", operation="read")
    assert SECRET not in str(info.value)
    assert "abcdefghijklmnop" not in str(info.value)
    assert "***" in str(info.value)
    assert caplog.records, "the retry was logged"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
        assert "abcdefghijklmnop" not in record.getMessage()
    await client.aclose()


def test_parse_retry_after_forms() -> None:
    now = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 01 May 2024 10:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None


async def test_streamed_body_is_rebuilt_for_each_attempt() -> None:
    sleeps = Sleeps()
    replies = Replies(httpx.Response(503), httpx.Response(201))
    transport, client = make(replies, sleeps)
    made = 0

    def body():  # type: ignore[no-untyped-def]
        nonlocal made
        made += 1

        async def gen():  # type: ignore[no-untyped-def]
            yield b"a,b\n"
            yield b"1,2\n"

        return gen()

    await transport.request("PUT", "https://x.test/up", operation="upload", content=body)
    assert made == 2
    assert [r.content for r in replies.seen] == [b"a,b\n1,2\n", b"a,b\n1,2\n"]
    await client.aclose()
