"""Login and discovery: the OAuth token endpoint, SOAP login, version list, identity URL."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from tandem.sandbox.salesforce.app import (
    MAX_VERSION,
    MIN_VERSION,
    Reply,
    SandboxState,
    bearer_token,
    fault_reply,
    to_response,
)
from tandem.sandbox.salesforce.oauth import OAuthError, check_password, token_grant
from tandem.sandbox.salesforce.soap import SoapFault, login_response, parse_login

__all__ = ["identity", "soap_login", "token", "versions"]

_SEASONS = ("Spring", "Summer", "Winter")
_XML = "text/xml; charset=utf-8"


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def _auth_fault(state: SandboxState) -> Reply | None:
    """Latency and HTTP error faults, for logins only when ``include_auth`` is set."""
    delay = state.faults.latency_s(auth=True)
    if delay:
        await asyncio.sleep(delay)
    fault = state.faults.decide(write=False, auth=True)
    return fault_reply(fault, state) if fault is not None else None


async def token(request: Request) -> Response:
    """``POST /services/oauth2/token`` (JWT bearer, client credentials, password)."""
    state = _state(request)
    faulted = await _auth_fault(state)
    if faulted is not None:
        state.count(f"POST token {faulted.status}")
        return to_response(faulted)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    try:
        body = token_grant(
            state.identity,
            state.tokens,
            form,
            request.headers.get("authorization"),
            base_url=state.base_url,
            jwt_cert_pem=state.jwt_cert_pem,
        )
    except OAuthError as exc:
        state.count("POST token 400")
        return to_response(Reply(400, exc.to_json()))
    state.count("POST token 200")
    return to_response(Reply(200, body))


async def soap_login(request: Request) -> Response:
    """``POST /services/Soap/u/{version}``: the partner ``login`` call."""
    state = _state(request)
    version = str(request.path_params["version"])
    faulted = await _auth_fault(state)
    if faulted is not None:
        state.count(f"POST soap {faulted.status}")
        return to_response(faulted)
    try:
        username, password = parse_login(await request.body())
        if not check_password(state.identity, username, password):
            raise SoapFault(
                "INVALID_LOGIN",
                "Invalid username, password, security token; or user locked out.",
                "LoginFault",
            )
    except SoapFault as fault:
        state.count("POST soap 500")
        return Response(fault.to_xml(), status_code=500, media_type=_XML)
    ident, base = state.identity, state.base_url
    xml = login_response(
        session_id=state.tokens.issue(),
        server_url=f"{base}/services/Soap/u/{version}/{ident.org_id}",
        metadata_server_url=f"{base}/services/Soap/m/{version}/{ident.org_id}",
        user_id=ident.user_id,
        org_id=ident.org_id,
        username=ident.username,
    )
    state.count("POST soap 200")
    return Response(xml, status_code=200, media_type=_XML)


def _label(major: int) -> str:
    step = major - 42
    season = _SEASONS[step % 3]
    year = 18 + step // 3 + (1 if season == "Winter" else 0)
    return f"{season} '{year:02d}"


async def versions(request: Request) -> Response:
    """``GET /services/data/``: the API versions served (not counted against the limit)."""
    body = [
        {"label": _label(major), "url": f"/services/data/v{major}.0", "version": f"{major}.0"}
        for major in range(MIN_VERSION, MAX_VERSION + 1)
    ]
    return to_response(Reply(200, body))


async def identity(request: Request) -> Response:
    """``GET /id/{org_id}/{user_id}``: the identity URL returned with a token."""
    state = _state(request)
    token_value = bearer_token(request.headers)
    if token_value is None or not state.tokens.is_valid(token_value):
        return to_response(Reply(403, "Bad_OAuth_Token", "text/plain"))
    ident = state.identity
    if (request.path_params["org_id"], request.path_params["user_id"]) != (
        ident.org_id,
        ident.user_id,
    ):
        return to_response(Reply(404, "Bad_Id", "text/plain"))
    body = {
        "id": f"{state.base_url}/id/{ident.org_id}/{ident.user_id}",
        "asserted_user": True,
        "user_id": ident.user_id,
        "organization_id": ident.org_id,
        "username": ident.username,
        "nick_name": "integration",
        "display_name": "Integration User",
        "email": ident.username,
        "active": True,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "urls": {
            "rest": f"{state.base_url}/services/data/v{{version}}/",
            "sobjects": f"{state.base_url}/services/data/v{{version}}/sobjects/",
            "query": f"{state.base_url}/services/data/v{{version}}/query/",
        },
    }
    return to_response(Reply(200, body))
