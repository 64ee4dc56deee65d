"""OAuth 2.0 against the Salesforce token endpoint: JWT bearer, client credentials, password.

:class:`SalesforceAuthenticator` is the transport's :class:`~tandem.connectors.http.Authenticator`:
it gets a token on first use, and renews it when the API answers ``INVALID_SESSION_ID`` (the
transport then retries the call once). A refused grant (``invalid_grant``, ``invalid_client``)
is :class:`~tandem.errors.Fatal`, carrying the server's description but never a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from tandem.connectors.http import ErrorDetail, HttpTransport, ResolutionRule
from tandem.connectors.salesforce.settings import SalesforceSettings
from tandem.errors import Fatal

__all__ = ["JWT_GRANT", "SalesforceAuthenticator", "Token", "build_assertion"]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

TOKEN_RULES: tuple[ResolutionRule, ...] = (
    ResolutionRule("retry", "token endpoint busy", status=429),
    ResolutionRule("retry", "token endpoint failed", status_class=5),
    ResolutionRule("fatal", "authentication refused", status_class=4),
)
"""The token endpoint never answers ``refresh_auth``: a refusal there is final."""


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and the instance it is valid for."""

    access_token: str
    instance_url: str
    issued_at: float


def build_assertion(settings: SalesforceSettings, *, now: float | None = None) -> str:
    """The RS256-signed JWT for the bearer flow (``iss``, ``sub``, ``aud``, ``exp`` = now + 3 min).

    Raises:
        Fatal: the private key cannot be read or used (its content is never quoted).
    """
    import jwt  # PyJWT and cryptography load only for the flow that signs (~25 ms)

    issued = int(now if now is not None else time.time())
    claims = {
        "iss": settings.client_id,
        "sub": settings.username,
        "aud": settings.jwt_audience or settings.login_url,
        "exp": issued + 180,
    }
    try:
        return jwt.encode(claims, settings.private_key_pem(), algorithm="RS256")
    except (OSError, ValueError, jwt.PyJWTError, TypeError) as exc:
        raise Fatal(
            f"cannot sign the JWT assertion with the configured private key ({type(exc).__name__})",
            system="salesforce",
            operation="authenticate",
        ) from None


def _parse_oauth_error(response: httpx.Response) -> ErrorDetail:
    try:
        body = response.json()
    except ValueError:
        return ErrorDetail(None, response.text[:300])
    if isinstance(body, dict):
        code = body.get("error")
        return ErrorDetail(
            str(code) if code else None, str(body.get("error_description") or code or "")
        )
    return ErrorDetail(None, response.text[:300])


class SalesforceAuthenticator:
    """Obtains and renews Salesforce access tokens.

    Args:
        settings: the connector settings.
        transport: the shared transport (token calls are sent ungoverned and unauthenticated).
    """

    def __init__(self, settings: SalesforceSettings, transport: HttpTransport) -> None:
        self.settings = settings
        self.transport = transport
        self.token: Token | None = None
        self.logins = 0
        self._lock = asyncio.Lock()
        self._pending: asyncio.Future[Token] | None = None

    def secrets(self) -> list[str]:
        """Secrets to filter from messages: configured ones plus the current token."""
        values = self.settings.secret_values()
        if self.token is not None:
            values.append(self.token.access_token)
        return values

    @property
    def instance_url(self) -> str:
        """The REST host: the configured one, else the token response's."""
        if self.settings.instance_url:
            return self.settings.instance_url
        if self.token is None:
            raise Fatal("not authenticated yet", system="salesforce", operation="authenticate")
        return self.token.instance_url

    def prefetch(self) -> None:
        """Start logging in on a task of its own, so the token arrives while the caller works.

        The first :meth:`headers` waits for that login; if it failed, every call waiting for
        it gets its error, and the next call logs in anew.
        """
        if self.token is None and self._pending is None:
            self._pending = asyncio.ensure_future(self._first_login())

    async def _first_login(self) -> Token:
        async with self._lock:
            if self.token is None:
                self.token = await self._login()
            return self.token

    async def headers(self) -> Mapping[str, str]:
        """``Authorization: Bearer <token>``, logging in first when needed."""
        token = self.token
        if token is None:
            pending = self._pending
            if pending is not None:
                try:
                    await asyncio.shield(pending)  # a cancelled caller leaves it running
                finally:
                    if pending.done() and self._pending is pending:
                        self._pending = None
            token = self.token or await self._first_login()
        return {"Authorization": f"Bearer {token.access_token}"}

    async def aclose(self) -> None:
        """Stop a login still under way; a finished one's error is taken (not left unseen)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        if not pending.done():
            pending.cancel()
        with contextlib.suppress(BaseException):
            await pending

    async def refresh(self, stale: Mapping[str, str]) -> None:
        """Get a new token, unless a concurrent call already replaced the ``stale`` one."""
        async with self._lock:
            current = self.token
            if current is not None and stale.get("Authorization") != (
                f"Bearer {current.access_token}"
            ):
                return
            self.token = await self._login()

    async def _login(self) -> Token:
        s = self.settings
        basic: tuple[str, str] | None = None
        if s.auth_flow == "jwt":
            form = {"grant_type": JWT_GRANT, "assertion": build_assertion(s)}
        elif s.auth_flow == "client_credentials":
            assert s.client_id is not None and s.client_secret is not None  # validated
            form = {"grant_type": "client_credentials"}
            basic = (s.client_id, s.client_secret.get_secret_value())
        else:
            assert s.client_secret is not None and s.password is not None  # validated
            form = {
                "grant_type": "password",
                "client_id": s.client_id or "",
                "client_secret": s.client_secret.get_secret_value(),
                "username": s.username or "",
                "password": s.password.get_secret_value(),
            }
        response = await self.transport.request(
            "POST",
            s.token_url,
            operation=f"authenticate ({s.auth_flow})",
            data=form,
            headers={"Accept": "application/json"},
            authenticated=False,
            governed=False,
            rules=TOKEN_RULES,
            parse_error=_parse_oauth_error,
            basic_auth=basic,
        )
        try:
            body = response.json()
            token = str(body["access_token"])
            instance = str(body.get("instance_url") or s.instance_url or "").rstrip("/")
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            raise Fatal(
                "token response without access_token",
                system="salesforce",
                operation="authenticate",
            ) from None
        if not instance:
            raise Fatal(
                "token response without instance_url and no instance_url configured",
                system="salesforce",
                operation="authenticate",
            )
        self.logins += 1
        return Token(token, instance, time.time())
