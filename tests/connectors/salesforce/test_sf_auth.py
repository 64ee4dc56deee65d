"""OAuth flows, session renewal on INVALID_SESSION_ID, and secrets kept out of messages."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sf_stubs import (
    API,
    CLIENT_SECRET,
    INSTANCE,
    LOGIN,
    PASSWORD,
    TOKEN,
    FakeSleep,
    StrictStub,
    json_response,
    sf_error,
)

from tandem.connectors.salesforce import SalesforceSettings
from tandem.connectors.salesforce.auth import JWT_GRANT
from tandem.connectors.salesforce.client import SalesforceClient
from tandem.errors import Fatal


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


@pytest.fixture(scope="module")
def rsa_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


async def test_password_flow(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    stub.token()
    client = make_client()
    await client.login()
    sent = form(stub.requests[0])
    assert stub.requests[0].url == f"{LOGIN}/services/oauth2/token"
    assert sent == {
        "grant_type": "password",
        "client_id": "consumer-key",
        "client_secret": CLIENT_SECRET,
        "username": "integration@acme.test",
        "password": PASSWORD,
    }
    assert client.auth.instance_url == INSTANCE
    assert client.governor.calls_made == 0  # the token call is not an API call
    await client.aclose()


async def test_client_credentials_flow_uses_basic_auth(
    stub: StrictStub, fake_sleep: FakeSleep
) -> None:
    stub.token()
    settings = SalesforceSettings(
        auth_flow="client_credentials",
        login_url="https://acme.my.example.com",
        client_id="ck",
        client_secret="cs-secret",
    )
    client = SalesforceClient(settings, http_transport=httpx.MockTransport(stub), sleep=fake_sleep)
    await client.login()
    request = stub.requests[0]
    assert form(request) == {"grant_type": "client_credentials"}
    expected = base64.b64encode(b"ck:cs-secret").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    await client.aclose()


async def test_jwt_bearer_flow(
    stub: StrictStub, fake_sleep: FakeSleep, rsa_key: tuple[str, str], tmp_path: object
) -> None:
    private, public = rsa_key
    stub.token()
    settings = SalesforceSettings(
        auth_flow="jwt",
        login_url=LOGIN,
        client_id="ck",
        username="integration@acme.test",
        private_key=private,
    )
    client = SalesforceClient(settings, http_transport=httpx.MockTransport(stub), sleep=fake_sleep)
    await client.login()
    sent = form(stub.requests[0])
    assert sent["grant_type"] == JWT_GRANT
    claims = jwt.decode(sent["assertion"], public, algorithms=["RS256"], audience=LOGIN)
    assert claims["iss"] == "ck"
    assert claims["sub"] == "integration@acme.test"
    assert 0 < claims["exp"] - __import__("time").time() <= 180
    await client.aclose()


async def test_invalid_grant_is_fatal_with_description_but_no_secret(
    stub: StrictStub, make_client: Callable[..., SalesforceClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stub.on(
        "POST",
        "/services/oauth2/token",
        json_response(
            {
                "error": "invalid_grant",
                "error_description": f"authentication failure for password {PASSWORD}",
            },
            400,
        ),
    )
    client = make_client()
    with pytest.raises(Fatal) as info:
        await client.login()
    text = str(info.value)
    assert "invalid_grant" in text and "authentication failure" in text
    assert PASSWORD not in text and CLIENT_SECRET not in text
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)
    await client.aclose()


async def test_token_endpoint_5xx_is_retried(
    stub: StrictStub, make_client: Callable[..., SalesforceClient], fake_sleep: FakeSleep
) -> None:
    stub.on("POST", "/services/oauth2/token", httpx.Response(503, headers={"Retry-After": "2"}))
    stub.token()
    client = make_client()
    await client.login()
    assert fake_sleep.delays == [2.0]
    await client.aclose()


async def test_invalid_session_refreshes_exactly_once(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    stub.token(times=1)
    stub.token(times=1, access_token="00DSECONDTOKENxyz")
    stub.on("GET", f"{API}/limits/", sf_error(401, "INVALID_SESSION_ID", "Session expired"))
    stub.on(
        "GET",
        f"{API}/limits/",
        json_response({"DailyApiRequests": {"Max": 1000, "Remaining": 900}}),
    )
    client = make_client()
    body = await client.limits()
    assert body["DailyApiRequests"]["Max"] == 1000
    auths = [r.headers["Authorization"] for r in stub.calls("GET", f"{API}/limits/")]
    assert auths == [f"Bearer {TOKEN}", "Bearer 00DSECONDTOKENxyz"]
    assert client.auth.logins == 2
    assert client.governor.used == 100  # Max - Remaining from the limits body
    assert client.governor.calls_made == 2
    stub.assert_used()
    await client.aclose()


async def test_second_invalid_session_is_fatal(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    stub.token(times=2)
    stub.on(
        "GET",
        f"{API}/limits/",
        [
            sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid"),
            sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid"),
        ],
    )
    client = make_client()
    with pytest.raises(Fatal, match="refused again after renewing") as info:
        await client.limits()
    assert TOKEN not in str(info.value)
    assert client.auth.logins == 2
    await client.aclose()


async def test_prefetched_login_serves_the_first_calls_with_one_token(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    stub.token(times=1)
    stub.on(
        "GET",
        f"{API}/limits/",
        json_response({"DailyApiRequests": {"Max": 1000, "Remaining": 900}}),
        times=2,
    )
    client = make_client()
    client.prefetch_login()
    assert stub.requests == []  # started, not yet sent: the caller keeps working meanwhile
    first, second = await asyncio.gather(client.limits(), client.limits())
    assert first == second
    assert client.auth.logins == 1
    assert [r.url.path for r in stub.requests].count("/services/oauth2/token") == 1
    auths = {r.headers["Authorization"] for r in stub.calls("GET", f"{API}/limits/")}
    assert auths == {f"Bearer {TOKEN}"}
    stub.assert_used()
    await client.aclose()


async def test_failed_prefetch_fails_the_first_call_and_the_next_logs_in_anew(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    refused = {"error": "invalid_grant", "error_description": "authentication failure"}
    stub.on("POST", "/services/oauth2/token", json_response(refused, 400))
    stub.token(times=1)
    stub.on(
        "GET",
        f"{API}/limits/",
        json_response({"DailyApiRequests": {"Max": 1000, "Remaining": 900}}),
    )
    client = make_client()
    client.prefetch_login()
    with pytest.raises(Fatal, match="invalid_grant"):
        await client.limits()
    assert stub.calls("GET", f"{API}/limits/") == []  # nothing sent without a token
    body = await client.limits()  # the password was fixed meanwhile, say
    assert body["DailyApiRequests"]["Max"] == 1000
    assert len(stub.calls("POST", "/services/oauth2/token")) == 2
    assert client.auth.logins == 1  # the one that gave a token
    stub.assert_used()
    await client.aclose()


async def test_close_stops_a_prefetch_under_way(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_token(request: httpx.Request) -> httpx.Response:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        raise AssertionError("the login should have been cancelled")

    stub.on("POST", "/services/oauth2/token", slow_token)
    client = make_client()
    client.prefetch_login()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(client.aclose(), 5)
    assert cancelled.is_set()  # not left running past the close
    assert client.auth.token is None
    assert client.auth.logins == 0
