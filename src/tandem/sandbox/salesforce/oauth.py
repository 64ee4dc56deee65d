"""Who may log in to the sandbox, and the OAuth 2.0 token endpoint that lets them.

The org has one integration user and one connected app (:class:`Identity`), created on first
start and kept in ``DIR/sandbox.json``. :class:`TokenStore` keeps the access tokens it issued
in ``DIR/tokens.json`` so they stay valid across restarts, until an "expire sessions" fault
invalidates them all. :func:`token_grant` answers ``POST /services/oauth2/token`` for the JWT
bearer, client credentials and username-password flows, with Salesforce's error bodies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509

__all__ = ["Identity", "OAuthError", "TokenStore", "check_password", "token_grant"]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
_MAX_TOKENS = 1000
_ALPHANUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _sf_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUM) for _ in range(15 - len(prefix))) + "AAA"


@dataclass(frozen=True)
class Identity:
    """The integration user and connected app of the sandbox org.

    Attributes:
        org_id: the organization id (``00D...``).
        user_id: the integration user's id (``005...``).
        username: the integration user's login.
        password: the user's password.
        security_token: appended to the password for the SOAP login (optional from localhost).
        client_id: the connected app's consumer key.
        client_secret: the connected app's consumer secret.
        admin_token: bearer token of the ``/__sandbox`` admin endpoints.
    """

    org_id: str
    user_id: str
    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str
    admin_token: str

    @classmethod
    def create(cls) -> Identity:
        """Draw a fresh identity with random secrets."""
        return cls(
            org_id=_sf_id("00D"),
            user_id=_sf_id("005"),
            username="integration@tandem.sandbox",
            password=secrets.token_urlsafe(12),
            security_token=secrets.token_hex(12),
            client_id="3MVG9" + secrets.token_urlsafe(40).replace("-", "A").replace("_", "B"),
            client_secret=secrets.token_hex(32).upper(),
            admin_token=secrets.token_urlsafe(24),
        )

    @classmethod
    def load_or_create(cls, path: Path) -> Identity:
        """Read the identity from ``sandbox.json``, or create one when the file is missing.

        Args:
            path: the ``sandbox.json`` file.

        Returns:
            The stored identity, or a new one (the caller writes the file).
        """
        if not path.exists():
            return cls.create()
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return cls(**{key: str(data[key]) for key in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, str]:
        """The fields as a plain dict (for ``sandbox.json``)."""
        return asdict(self)


def check_password(identity: Identity, username: str, password: str) -> bool:
    """Check a login: the password alone (localhost is a trusted IP range) or password+token.

    Args:
        identity: the org's identity.
        username: the login sent.
        password: the password sent, possibly with the security token appended.

    Returns:
        ``True`` when the credentials are those of the integration user.
    """
    if not hmac.compare_digest(username, identity.username):
        return False
    return hmac.compare_digest(password, identity.password) or hmac.compare_digest(
        password, identity.password + identity.security_token
    )


class TokenStore:
    """The access tokens issued, persisted so that sessions survive a restart.

    Args:
        path: the JSON file tokens are kept in, or ``None`` for memory only.
        org_id: the organization id, the prefix of every token.
    """

    def __init__(self, path: Path | None, org_id: str) -> None:
        self._path = path
        self._org_id = org_id
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        if path is not None and path.exists():
            self._tokens = {str(k): float(v) for k, v in json.loads(path.read_text()).items()}

    def issue(self) -> str:
        """Create, remember and return a new access token."""
        token = f"{self._org_id}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._tokens[token] = time.time()
            if len(self._tokens) > _MAX_TOKENS:
                oldest = sorted(self._tokens, key=self._tokens.__getitem__)
                for stale in oldest[: len(self._tokens) - _MAX_TOKENS]:
                    del self._tokens[stale]
            self._save_locked()
        return token

    def is_valid(self, token: str) -> bool:
        """Return ``True`` when ``token`` was issued and has not been invalidated."""
        return token in self._tokens

    def expire_all(self) -> int:
        """Invalidate every session; returns how many there were."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            self._save_locked()
        return count

    def _save_locked(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self._tokens, handle)
        os.replace(tmp, self._path)


class OAuthError(Exception):
    """A refused token request: ``{"error", "error_description"}`` with HTTP 400.

    Attributes:
        error: the OAuth error code (``invalid_grant``, ``invalid_client``, ...).
        description: the ``error_description`` text.
    """

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description

    def to_json(self) -> dict[str, str]:
        """The error body Salesforce sends."""
        return {"error": self.error, "error_description": self.description}


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError("invalid_client", "invalid client credentials") from exc
    client_id, _, secret = decoded.partition(":")
    return client_id, secret


def _check_client(identity: Identity, client_id: str | None, secret: str | None) -> None:
    if not client_id or not hmac.compare_digest(client_id, identity.client_id):
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if secret is None or not hmac.compare_digest(secret, identity.client_secret):
        raise OAuthError("invalid_client", "invalid client credentials")


def _check_jwt(identity: Identity, assertion: str, cert_pem: bytes, base_url: str) -> None:
    public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    audiences = [*LOGIN_AUDIENCES, base_url, base_url + "/"]
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise OAuthError("invalid_grant", "invalid assertion") from exc
    if unverified.get("iss") != identity.client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    try:
        claims = jwt.decode(
            assertion,
            public_key,  # type: ignore[arg-type]
            algorithms=["RS256"],
            audience=audiences,
            issuer=identity.client_id,
            options={"require": ["exp", "iss", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise OAuthError("invalid_grant", "expired authorization code") from exc
    except jwt.InvalidAudienceError as exc:
        raise OAuthError("invalid_grant", "audience is invalid") from exc
    except jwt.InvalidTokenError as exc:
        raise OAuthError("invalid_grant", "invalid assertion") from exc
    if claims.get("sub") != identity.username:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")


def token_grant(
    identity: Identity,
    tokens: TokenStore,
    form: Mapping[str, str],
    authorization: str | None,
    *,
    base_url: str,
    jwt_cert_pem: bytes,
) -> dict[str, str]:
    """Answer a token request.

    Args:
        identity: the org's user and connected app.
        tokens: where the new access token is recorded.
        form: the ``application/x-www-form-urlencoded`` fields.
        authorization: the ``Authorization`` header, if any (HTTP Basic for client credentials).
        base_url: the sandbox's own URL (``instance_url``; also a valid JWT audience).
        jwt_cert_pem: the connected app's certificate, to verify JWT assertions.

    Returns:
        The success body: ``access_token``, ``instance_url``, ``id``, ``token_type``,
        ``issued_at``, ``signature``, ``scope``.

    Raises:
        OAuthError: refused; answered as HTTP 400 with its JSON.
    """
    grant = form.get("grant_type", "")
    if grant == JWT_GRANT:
        assertion = form.get("assertion")
        if not assertion:
            raise OAuthError("invalid_request", "assertion is required")
        _check_jwt(identity, assertion, jwt_cert_pem, base_url)
    elif grant == "client_credentials":
        basic = _basic_auth(authorization)
        client_id, secret = basic or (form.get("client_id"), form.get("client_secret"))
        _check_client(identity, client_id, secret)
    elif grant == "password":
        _check_client(identity, form.get("client_id"), form.get("client_secret"))
        if not check_password(identity, form.get("username", ""), form.get("password", "")):
            raise OAuthError("invalid_grant", "authentication failure")
    elif not grant:
        raise OAuthError("invalid_request", "grant type is required")
    else:
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    access_token = tokens.issue()
    issued_at = str(int(time.time() * 1000))
    id_url = f"{base_url}/id/{identity.org_id}/{identity.user_id}"
    digest = hmac.new(
        identity.client_secret.encode(), (id_url + issued_at).encode(), hashlib.sha256
    ).digest()
    return {
        "access_token": access_token,
        "instance_url": base_url,
        "id": id_url,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": base64.b64encode(digest).decode(),
        "scope": "api",
    }
