"""Settings of the Salesforce connector: where, who, how hard to push.

Secrets are :class:`~pydantic.SecretStr`, so they never show in a ``repr``, a log line or an
error message. The flow config resolves secret references (environment variable, file) before
building these settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["AuthFlow", "SalesforceSettings"]

AuthFlow = Literal["jwt", "client_credentials", "password"]


class SalesforceSettings(BaseModel):
    """How to reach and use one Salesforce org.

    Attributes:
        instance_url: the org's REST host (``https://acme.my.salesforce.com``); taken from the
            token response when not set.
        login_url: the OAuth host (``https://login.salesforce.com``, ``https://test...``, or a
            My Domain); the token endpoint is ``{login_url}/services/oauth2/token``.
        auth_flow: ``jwt`` (JWT bearer), ``client_credentials`` or ``password``.
        username: the integration user (``jwt``, ``password``).
        client_id: the connected app's consumer key.
        client_secret: the consumer secret (``client_credentials``, ``password``).
        password: the user's password with the security token appended (``password``).
        private_key: the PEM private key signing the JWT (``jwt``).
        private_key_file: a file holding that key, instead of ``private_key``.
        jwt_audience: the JWT ``aud`` claim; defaults to ``login_url`` (set it to
            ``https://login.salesforce.com`` when logging in through a My Domain host).
        api_version: the REST API version, e.g. ``59.0``.
        ca_file: a CA bundle to verify TLS against (e.g. the local sandbox's ``ca.pem``).
        timeout: seconds per HTTP request.
        quota_reserve: share of the daily API budget left to others (0..1).
        on_quota_reserve: ``fail`` (stop the flow) or ``wait`` when the reserve is reached.
        bulk_threshold: records per write batch / read above which Bulk API 2.0 is used.
        max_retries: retries of a transient failure before raising ``Retriable``.
        backoff_base: first backoff ceiling, seconds.
        backoff_cap: largest backoff ceiling, seconds.
        client_name: sent as ``Sforce-Call-Options: client=<name>`` (shows in CDC changeOrigin).
        query_batch_size: rows asked per REST query page (``Sforce-Query-Options``), 200..2000.
        bulk_poll_interval: first wait between Bulk job polls, seconds (then doubles to 10 s).
        bulk_timeout: give up on a Bulk job after this many seconds (``Retriable``).
        bulk_page_size: rows per Bulk query result page (bounds memory).
        use_get_deleted: also ask ``getDeleted`` so records purged from the recycle bin are seen.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_url: str | None = None
    login_url: str = "https://login.salesforce.com"
    auth_flow: AuthFlow = "jwt"
    username: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    password: SecretStr | None = None
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    jwt_audience: str | None = None
    api_version: str = Field(default="59.0", pattern=r"^\d{2,3}\.0$")
    ca_file: Path | None = None
    timeout: float = Field(default=60.0, gt=0)
    quota_reserve: float = Field(default=0.2, ge=0, lt=1)
    on_quota_reserve: Literal["fail", "wait"] = "fail"
    bulk_threshold: int = Field(default=2000, ge=1)
    max_retries: int = Field(default=5, ge=0)
    backoff_base: float = Field(default=0.5, gt=0)
    backoff_cap: float = Field(default=30.0, gt=0)
    client_name: str = "tandem"
    query_batch_size: int = Field(default=2000, ge=200, le=2000)
    bulk_poll_interval: float = Field(default=0.5, gt=0)
    bulk_timeout: float = Field(default=1800.0, gt=0)
    bulk_page_size: int = Field(default=10000, ge=1)
    use_get_deleted: bool = True

    @field_validator("login_url", "instance_url")
    @classmethod
    def _https_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an absolute URL such as https://login.salesforce.com")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials_for_flow(self) -> SalesforceSettings:
        needed: dict[str, tuple[str, ...]] = {
            "jwt": ("client_id", "username"),
            "client_credentials": ("client_id", "client_secret"),
            "password": ("client_id", "client_secret", "username", "password"),
        }
        missing = [name for name in needed[self.auth_flow] if getattr(self, name) is None]
        if self.auth_flow == "jwt" and self.private_key is None and self.private_key_file is None:
            missing.append("private_key or private_key_file")
        if missing:
            raise ValueError(f"auth_flow {self.auth_flow!r} needs: {', '.join(missing)}")
        return self

    def private_key_pem(self) -> str:
        """The JWT signing key as PEM text (from ``private_key`` or ``private_key_file``)."""
        if self.private_key is not None:
            return self.private_key.get_secret_value()
        if self.private_key_file is None:
            raise ValueError("no private_key or private_key_file configured")
        return self.private_key_file.read_text(encoding="utf-8")

    def secret_values(self) -> list[str]:
        """Every configured secret in clear, for filtering them out of messages."""
        values = [
            s.get_secret_value()
            for s in (self.client_secret, self.password, self.private_key)
            if s is not None
        ]
        # Each line of a PEM key, so no fragment of it can leak either.
        if self.private_key is not None:
            values.extend(
                line for line in self.private_key.get_secret_value().splitlines() if len(line) > 8
            )
        return values

    @property
    def token_url(self) -> str:
        """The OAuth 2.0 token endpoint."""
        return f"{self.login_url}/services/oauth2/token"
