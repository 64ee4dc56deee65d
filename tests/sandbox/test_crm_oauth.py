"""The token endpoint and SOAP login, on the wire."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tandem.sandbox.salesforce.oauth import JWT_GRANT
from tandem.sandbox.salesforce.server import SandboxHandle


@pytest.fixture
def root(crm: SandboxHandle) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(crm.ca_file))
    return httpx.Client(base_url=crm.base_url, verify=context, timeout=30)


def _assertion(crm: SandboxHandle, key: bytes | None = None, **claims: Any) -> str:
    payload: dict[str, Any] = {
        "iss": crm.client_id,
        "sub": crm.username,
        "aud": "https://login.salesforce.com",
        "exp": str(int((dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)).timestamp())),
    }
    payload.update(claims)
    return jwt.encode(payload, key or crm.private_key_file.read_bytes(), algorithm="RS256")


def _token(root: httpx.Client, **form: str) -> httpx.Response:
    return root.post("/services/oauth2/token", data=form)


def test_jwt_bearer_success_shape(crm: SandboxHandle, root: httpx.Client) -> None:
    answer = _token(root, grant_type=JWT_GRANT, assertion=_assertion(crm))
    assert answer.status_code == 200
    body = answer.json()
    assert body["instance_url"] == crm.base_url
    assert body["token_type"] == "Bearer"
    assert {"access_token", "id", "issued_at", "signature", "scope"} <= set(body)
    assert body["id"] == f"{crm.base_url}/id/{crm.org.org_id}/{crm.org.integration_user_id}"
    limits = root.get(
        "/services/data/v59.0/limits",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert limits.status_code == 200


def test_jwt_audience_may_be_the_sandbox_itself(crm: SandboxHandle, root: httpx.Client) -> None:
    answer = _token(root, grant_type=JWT_GRANT, assertion=_assertion(crm, aud=crm.base_url))
    assert answer.status_code == 200


def test_jwt_refusals(crm: SandboxHandle, root: httpx.Client) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    past = str(int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).timestamp()))
    cases = {
        "foreign key": (_assertion(crm, key=other_key), "invalid_grant"),
        "wrong audience": (_assertion(crm, aud="https://example.com"), "invalid_grant"),
        "expired": (_assertion(crm, exp=past), "invalid_grant"),
        "other user": (_assertion(crm, sub="someone@else"), "invalid_grant"),
        "other app": (_assertion(crm, iss="3MVGnope"), "invalid_client_id"),
        "garbage": ("not.a.jwt", "invalid_grant"),
    }
    for case, (assertion, error) in cases.items():
        answer = _token(root, grant_type=JWT_GRANT, assertion=assertion)
        assert answer.status_code == 400, case
        assert answer.json()["error"] == error, case
        assert answer.json()["error_description"], case


def test_client_credentials_as_basic_or_form(crm: SandboxHandle, root: httpx.Client) -> None:
    basic = base64.b64encode(f"{crm.client_id}:{crm.client_secret}".encode()).decode()
    by_header = root.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert by_header.status_code == 200
    by_form = _token(
        root,
        grant_type="client_credentials",
        client_id=crm.client_id,
        client_secret=crm.client_secret,
    )
    assert by_form.status_code == 200
    wrong = _token(
        root, grant_type="client_credentials", client_id=crm.client_id, client_secret="x"
    )
    assert wrong.status_code == 400
    assert wrong.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }


def test_password_flow_accepts_password_with_or_without_token(
    crm: SandboxHandle, root: httpx.Client
) -> None:
    for password in (crm.password, crm.password + crm.security_token):
        answer = _token(
            root,
            grant_type="password",
            client_id=crm.client_id,
            client_secret=crm.client_secret,
            username=crm.username,
            password=password,
        )
        assert answer.status_code == 200
    refused = _token(
        root,
        grant_type="password",
        client_id=crm.client_id,
        client_secret=crm.client_secret,
        username=crm.username,
        password="wrong",
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }


def test_unsupported_grant(root: httpx.Client) -> None:
    answer = _token(root, grant_type="authorization_code", code="x")
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_is_not_counted(crm: SandboxHandle, root: httpx.Client) -> None:
    before = crm.state.usage.used
    _token(root, grant_type="password", username="x", password="y")
    assert crm.state.usage.used == before


def test_soap_login_envelope_and_fault(crm: SandboxHandle, root: httpx.Client) -> None:
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:n1="urn:partner.soap.sforce.com"><env:Body><n1:login>'
        "<n1:username>{user}</n1:username><n1:password>{password}</n1:password>"
        "</n1:login></env:Body></env:Envelope>"
    )
    headers = {"content-type": "text/xml", "SOAPAction": "login"}
    good = root.post(
        "/services/Soap/u/59.0",
        content=envelope.format(user=crm.username, password=crm.password + crm.security_token),
        headers=headers,
    )
    assert good.status_code == 200
    assert "<sessionId>" in good.text
    assert f"<serverUrl>{crm.base_url}/services/Soap/u/59.0/" in good.text
    bad = root.post(
        "/services/Soap/u/59.0",
        content=envelope.format(user=crm.username, password="wrong"),
        headers=headers,
    )
    assert bad.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in bad.text
    garbage = root.post("/services/Soap/u/59.0", content=b"<nope", headers=headers)
    assert garbage.status_code == 500 and "<sf:exceptionCode>" in garbage.text
