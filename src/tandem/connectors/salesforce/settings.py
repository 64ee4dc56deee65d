"""Settings of the Salesforce connector: where, who, how hard to push.

Secrets are :class:`~pydantic.SecretStr`, so they never show in a ``repr``, a log line or an
error message. The flow config resolves secret references (environment variable, file) before
building these settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["AuthFlow", "SalesforceSettings"]

AuthFlow = Literal["jwt", "client_credentials", "password"]


_NEEDED: dict[str, tuple[str, ...]] = {
    "jwt": ("client_id", "username"),
    "client_credentials": ("client_id", "client_secret"),
    "password": ("client_id", "client_secret", "username", "password"),
}
"""The settings each ``auth_flow`` needs (``jwt`` also a private key or its file)."""

_HTTP_URL: dict[str, Any] = {"pattern": "^https?://"}


def _set(*names: str) -> dict[str, Any]:
    """JSON Schema: each of ``names`` is given and not null."""
    return {"required": list(names), "properties": {n: {"not": {"type": "null"}} for n in names}}


def _credentials_schema(schema: dict[str, Any]) -> None:
    """Add to the JSON Schema what :meth:`SalesforceSettings._credentials_for_flow` checks."""
    rules: list[dict[str, Any]] = []
    for flow, needed in _NEEDED.items():
        condition: dict[str, Any] = {"properties": {"auth_flow": {"const": flow}}}
        if flow != "jwt":  # jwt is the default: an absent auth_flow means jwt
            condition["required"] = ["auth_flow"]
        then = _set(*needed)
        if flow == "jwt":
            then["anyOf"] = [_set("private_key"), _set("private_key_file")]
        rules.append({"if": condition, "then": then})
    schema["allOf"] = rules


class SalesforceSettings(BaseModel):
    """How to reach and use one Salesforce org (``type: salesforce``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_credentials_schema)

    instance_url: str | None = Field(
        default=None,
        description="The org's REST host (https://acme.my.salesforce.com); default: the one"
        " in the token response.",
        json_schema_extra=_HTTP_URL,
    )
    login_url: str = Field(
        default="https://login.salesforce.com",
        description="The OAuth host (https://login.salesforce.com, https://test.salesforce.com,"
        " a My Domain, the sandbox); the token endpoint is {login_url}/services/oauth2/token.",
        json_schema_extra=_HTTP_URL,
    )
    auth_flow: AuthFlow = Field(
        default="jwt", description="OAuth 2.0 flow: jwt (JWT bearer), client_credentials, password."
    )
    username: str | None = Field(default=None, description="The integration user (jwt, password).")
    client_id: str | None = Field(
        default=None, description="The connected app's consumer key (every flow)."
    )
    client_secret: SecretStr | None = Field(
        default=None, description="The consumer secret (client_credentials, password)."
    )
    password: SecretStr | None = Field(
        default=None,
        description="The user's password with the security token appended (password).",
    )
    private_key: SecretStr | None = Field(
        default=None, description="The PEM private key signing the JWT (jwt)."
    )
    private_key_file: Path | None = Field(
        default=None,
        description="A file holding the JWT signing key, instead of private_key (relative to"
        " the flow file).",
    )
    jwt_audience: str | None = Field(
        default=None,
        description="The JWT aud claim; default: login_url (set https://login.salesforce.com"
        " when logging in through a My Domain host).",
    )
    api_version: str = Field(
        default="59.0",
        pattern=r"^\d{2,3}\.0$",
        description='REST API version, e.g. "59.0" (quoted in YAML).',
    )
    ca_file: Path | None = Field(
        default=None,
        description="A CA bundle to verify TLS against (e.g. the local sandbox's ca.pem);"
        " default: the system's.",
    )
    timeout: float = Field(default=60.0, gt=0, description="Seconds per HTTP request.")
    quota_reserve: float = Field(
        default=0.2, ge=0, lt=1, description="Share of the daily API budget left to others (0..1)."
    )
    on_quota_reserve: Literal["fail", "wait"] = Field(
        default="fail",
        description="When the reserve is reached: fail (stop the flow) or wait (sleep and"
        " re-check).",
    )
    bulk_threshold: int = Field(
        default=2000,
        ge=1,
        description="Records per write batch or read above which Bulk API 2.0 is used.",
    )
    max_retries: int = Field(
        default=5, ge=0, description="Retries of a transient failure before giving up for now."
    )
    backoff_base: float = Field(default=0.5, gt=0, description="First backoff ceiling, seconds.")
    backoff_cap: float = Field(default=30.0, gt=0, description="Largest backoff ceiling, seconds.")
    client_name: str = Field(
        default="tandem",
        description="Sent as Sforce-Call-Options: client=<name> (shows in CDC changeOrigin).",
    )
    query_batch_size: int = Field(
        default=2000,
        ge=200,
        le=2000,
        description="Rows asked per REST query page (Sforce-Query-Options), 200..2000.",
    )
    bulk_poll_interval: float = Field(
        default=0.5,
        gt=0,
        description="First wait between Bulk job polls, seconds (then doubles up to 10 s).",
    )
    bulk_timeout: float = Field(
        default=1800.0, gt=0, description="Give up on a Bulk job after this many seconds."
    )
    stop_grace_seconds: float = Field(
        default=10.0,
        ge=0,
        description="On a first stop signal, how long a running Bulk ingest job is still "
        "polled (and collected if it completes) before it is aborted, seconds.",
    )
    bulk_page_size: int = Field(
        default=10000, ge=1, description="Rows per Bulk query result page (bounds memory)."
    )
    use_get_deleted: bool = Field(
        default=True,
        description="Also ask getDeleted, so records purged from the recycle bin are seen.",
    )

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
        missing = [name for name in _NEEDED[self.auth_flow] if getattr(self, name) is None]
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
