"""Clients for the CRM sandbox tests: requests (for simple-salesforce) and httpx (raw)."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import requests
from requests.adapters import HTTPAdapter

from tandem.sandbox.salesforce.server import SandboxHandle


class SandboxAdapter(HTTPAdapter):
    """A transport adapter that sends ``https://*.salesforce.com`` calls to the sandbox.

    It is mounted on the ``requests.Session`` handed to simple-salesforce through its documented
    ``session=`` parameter, so login URLs built by the library reach the sandbox unchanged in
    path and body; the library's own code is not touched.
    """

    def __init__(self, base_url: str, ca_file: str) -> None:
        super().__init__()
        self.target = urlsplit(base_url).netloc
        self.ca_file = ca_file

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        parts = urlsplit(str(request.url))
        if parts.hostname and parts.hostname.endswith(".salesforce.com"):
            request.url = urlunsplit(parts._replace(netloc=self.target))
        # requests lets REQUESTS_CA_BUNDLE override Session.verify: pin the sandbox CA here.
        kwargs["verify"] = self.ca_file
        return super().send(request, *args, **kwargs)


def sandbox_session(sandbox: SandboxHandle) -> requests.Session:
    """A ``requests.Session`` that verifies TLS against the sandbox CA and reaches it for
    ``login.salesforce.com`` / ``*.my.salesforce.com``."""
    session = requests.Session()
    session.verify = str(sandbox.ca_file)
    session.mount("https://", SandboxAdapter(sandbox.base_url, str(sandbox.ca_file)))
    return session


def api_client(
    sandbox: SandboxHandle, version: str = "59.0", token: str | None = None
) -> httpx.Client:
    """A raw httpx client on ``/services/data/vNN.N/`` with a valid bearer token."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    return httpx.Client(
        base_url=f"{sandbox.base_url}/services/data/v{version}/",
        verify=context,
        headers={"Authorization": f"Bearer {token or sandbox.issue_token()}"},
        timeout=30,
    )


def admin_client(sandbox: SandboxHandle) -> httpx.Client:
    """An httpx client on the sandbox root with the admin token."""
    context = ssl.create_default_context(cafile=str(sandbox.ca_file))
    return httpx.Client(
        base_url=sandbox.base_url,
        verify=context,
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
        timeout=30,
    )
