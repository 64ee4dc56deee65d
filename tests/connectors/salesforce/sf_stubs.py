"""Strict HTTP stubs for the Salesforce connector tests: an unexpected request fails the test."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

INSTANCE = "https://acme.example.com"
LOGIN = "https://login.example.com"
API = "/services/data/v59.0"
TOKEN = "00DTOKENabcdefghijkl1234567890"
CLIENT_SECRET = "client-secret-Zq81x"
PASSWORD = "user-password-Ww22+securitytokenXY"

Handler = Callable[[httpx.Request], httpx.Response]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A JSON response with a ``Sforce-Limit-Info`` header."""
    sent = {"Sforce-Limit-Info": "api-usage=10/1000", **(headers or {})}
    return httpx.Response(status, content=json.dumps(body).encode(), headers=sent)


def sf_error(
    status: int, code: str, message: str, fields: list[str] | None = None
) -> httpx.Response:
    """A top-level Salesforce error: a JSON array with ``errorCode``."""
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = fields
    return json_response([item], status)


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    times: int | None


@dataclass
class StrictStub:
    """Routes ``(method, path regex)`` to handlers; anything else fails the test."""

    routes: list[Route] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def on(
        self,
        method: str,
        path: str,
        reply: Handler | httpx.Response | list[httpx.Response],
        *,
        times: int | None = 1,
    ) -> None:
        """Answer ``method path`` (regex, full match) ``times`` times (None: always)."""
        if isinstance(reply, list):
            replies = list(reply)

            def handler(_: httpx.Request) -> httpx.Response:
                return replies.pop(0)

            self.routes.append(Route(method, re.compile(path), handler, len(replies)))
            return
        fn: Handler = reply if callable(reply) else (lambda _r, resp=reply: resp)
        self.routes.append(Route(method, re.compile(path), fn, times))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for route in self.routes:
            if route.method == request.method and route.pattern.fullmatch(request.url.path):
                if route.times is None:
                    return route.handler(request)
                if route.times > 0:
                    route.times -= 1
                    return route.handler(request)
        raise AssertionError(f"unexpected request: {request.method} {request.url}")

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        """The requests made to ``method path`` (regex)."""
        pattern = re.compile(path)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.url.path)]

    def assert_used(self) -> None:
        """Every route with a fixed count was used up."""
        left = [f"{r.method} {r.pattern.pattern}" for r in self.routes if r.times]
        assert not left, f"stubs never called: {left}"

    def token(self, times: int | None = None, access_token: str = TOKEN) -> None:
        """Answer the token endpoint."""
        self.on(
            "POST",
            "/services/oauth2/token",
            json_response(
                {"access_token": access_token, "instance_url": INSTANCE, "token_type": "Bearer"}
            ),
            times=times,
        )


def query_params(request: httpx.Request) -> dict[str, str]:
    """The query string of a request as a flat dict."""
    return {k: v[0] for k, v in parse_qs(urlsplit(str(request.url)).query).items()}


def body_json(request: httpx.Request) -> Any:
    """The JSON body of a request."""
    return json.loads(request.content)


class FakeSleep:
    """Records the delays asked for; never sleeps."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class MaxRng:
    """A jitter source that always picks the top of the range (so delays are exact)."""

    def uniform(self, a: float, b: float) -> float:
        return b
