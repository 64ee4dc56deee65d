"""Run the sandbox: in-process for tests (:func:`running_sandbox`) or as a server (:func:`serve`).

Both prepare the data directory the same way (:class:`SandboxServer`): TLS material, the
JWT key pair, the identity in ``sandbox.json``, the SQLite org, the API usage counter, the Bulk
job store, then uvicorn over HTTPS on 127.0.0.1.

Example::

    with running_sandbox(tmp_path) as sandbox:
        session = requests.Session()
        session.verify = str(sandbox.ca_file)
        sf = Salesforce(instance_url=sandbox.base_url, session_id=sandbox.issue_token(),
                        session=session)
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from tandem.sandbox.salesforce.app import SandboxState, build_app
from tandem.sandbox.salesforce.bulk import BulkManager
from tandem.sandbox.salesforce.faults import FaultConfig, FaultInjector, load_fault_config
from tandem.sandbox.salesforce.limits import ApiUsage
from tandem.sandbox.salesforce.oauth import Identity, TokenStore
from tandem.sandbox.salesforce.org import Org
from tandem.sandbox.salesforce.routes import api_router, plain_routes
from tandem.sandbox.salesforce.schema import Schema
from tandem.sandbox.salesforce.tls import ensure_jwt_keypair, ensure_tls

__all__ = ["SandboxHandle", "SandboxServer", "running_sandbox", "serve"]

log = logging.getLogger("tandem.sandbox.salesforce")

FaultsArg = str | dict[str, Any] | FaultConfig | None
_START_TIMEOUT_S = 15.0

KEEP_ALIVE_SECONDS = 120
"""How long an idle HTTPS connection stays open, as on a real org's front end."""


class _Uvicorn(uvicorn.Server):
    """uvicorn, minus re-raising SIGINT/SIGTERM after its shutdown.

    uvicorn re-raises a caught signal once it has stopped, which kills the process before the
    sandbox saves its counters and stops the Bulk worker; the sandbox exits 0 instead.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


@dataclass
class SandboxHandle:
    """A running sandbox, as tests and scripts see it.

    Attributes:
        base_url: ``https://127.0.0.1:PORT`` (also the OAuth ``instance_url``).
        ca_file: the CA certificate to verify TLS against.
        data_dir: the data directory.
        username: the integration user's login.
        password: its password.
        security_token: its security token (for the SOAP login).
        client_id: the connected app's consumer key.
        client_secret: the connected app's consumer secret.
        private_key_file: the RSA key that signs JWT bearer assertions.
        admin_token: bearer token of the ``/__sandbox`` admin endpoints.
        org: the data core, for direct inspection.
        state: the server's shared state (faults, usage, tokens, bulk).
    """

    base_url: str
    ca_file: Path
    data_dir: Path
    username: str
    password: str
    security_token: str
    client_id: str
    client_secret: str
    private_key_file: Path
    admin_token: str
    org: Org
    state: SandboxState

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context trusting only the sandbox CA (e.g. ``httpx.Client(verify=...)``)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def port(self) -> int:
        """The TCP port the sandbox listens on."""
        return int(self.base_url.rsplit(":", 1)[1])

    def set_faults(self, faults: FaultsArg) -> FaultConfig:
        """Replace the fault configuration (seed filled in when missing).

        Args:
            faults: a config, a dict, JSON text, a JSON file path, or ``None`` for none.

        Returns:
            The configuration in force.
        """
        return self.state.faults.configure(load_fault_config(faults))

    def clear_faults(self) -> None:
        """Switch every fault off."""
        self.state.faults.configure(FaultConfig(seed=0))

    def expire_sessions(self) -> int:
        """Invalidate every access token; returns how many there were."""
        return self.state.tokens.expire_all()

    def issue_token(self) -> str:
        """A fresh access token (as if the integration user had logged in)."""
        return self.state.tokens.issue()

    def set_daily_limit(self, daily_limit: int, *, reset: bool = False) -> None:
        """Change the daily API allocation, optionally zeroing today's count."""
        self.state.usage.set_limit(daily_limit)
        if reset:
            self.state.usage.reset()

    def stats(self) -> dict[str, int]:
        """Request counters by ``"METHOD kind status"``."""
        with self.state.stats_lock:
            return dict(self.state.requests)


def _bind(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when it is
    # explicit; with proto 0 every answer waits ~40 ms for the client's delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class SandboxServer:
    """Prepares a data directory and serves the sandbox with uvicorn.

    Args:
        data_dir: where certificates, credentials, records and jobs are kept.
        host: the address to bind (127.0.0.1 unless told otherwise).
        port: the TCP port; 0 picks a free one.
        schema_files: extra schema YAML files (custom objects and fields).
        faults: the initial fault configuration.
        daily_limit: the daily API allocation; ``None`` keeps the saved one (default 100,000).
        seed: the fault seed (overrides the seed of ``faults``).
        access_log: log every request (slower; off by default).

    Raises:
        OSError: the address cannot be bound (e.g. the port is in use).
        clock: the org's clock (tz-aware UTC); tests pass a controllable one.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        schema_files: Sequence[Path] = (),
        faults: FaultsArg = None,
        daily_limit: int | None = None,
        seed: int | None = None,
        access_log: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.tls = ensure_tls(self.data_dir)
        self.jwt_files = ensure_jwt_keypair(self.data_dir)
        sandbox_json = self.data_dir / "sandbox.json"
        self.identity = Identity.load_or_create(sandbox_json)
        fault_config = load_fault_config(faults)
        if seed is not None:
            fault_config = fault_config.model_copy(update={"seed": seed})
        self.org = Org(self.data_dir / "org.sqlite3", Schema.load(list(schema_files)), clock=clock)
        # The identity speaks for the org's own integration user (CreatedById, OwnerId, ...).
        self.identity = replace(
            self.identity, org_id=self.org.org_id, user_id=self.org.integration_user_id
        )
        try:
            self.socket = _bind(host, port)
        except OSError:
            self.org.close()
            raise
        shown_host = f"[{host}]" if ":" in host else host
        self.base_url = f"https://{shown_host}:{self.socket.getsockname()[1]}"
        self.state = SandboxState(
            org=self.org,
            identity=self.identity,
            tokens=TokenStore(self.data_dir / "tokens.json", self.identity.org_id),
            usage=ApiUsage(self.data_dir / "api_usage.json", daily_limit),
            faults=FaultInjector(fault_config),
            jwt_cert_pem=self.jwt_files.cert_file.read_bytes(),
            base_url=self.base_url,
        )
        injector = self.state.faults
        self.bulk = BulkManager(
            self.org,
            self.data_dir / "bulk",
            self.identity.user_id,
            pace=lambda: injector.config.bulk_rows_per_second,
        )
        self.state.bulk = self.bulk
        self.state.router = api_router()
        self.app = build_app(self.state, self.state.router, plain_routes())
        self._write_sandbox_json(sandbox_json)
        config = uvicorn.Config(
            self.app,
            ssl_certfile=str(self.tls.cert_file),
            ssl_keyfile=str(self.tls.key_file),
            log_level="info" if access_log else "warning",
            access_log=access_log,
            date_header=False,  # the org's clock sends its own (see app._Envelope)
            lifespan="off",
            timeout_graceful_shutdown=5,
            # Keep idle connections open as long as Salesforce's front end does: with uvicorn's
            # 5 s default, a client that polls every 5 s (simple-salesforce's Bulk wait) races
            # the server closing its pooled connection and gets "Remote end closed connection".
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        self.server = _Uvicorn(config)

    def _write_sandbox_json(self, path: Path) -> None:
        data = {
            "base_url": self.base_url,
            "instance_url": self.base_url,
            "token_url": f"{self.base_url}/services/oauth2/token",
            "ca_file": str(self.tls.ca_file),
            "private_key_file": str(self.jwt_files.private_key_file),
            "jwt_cert_file": str(self.jwt_files.cert_file),
            "api_version": "59.0",
            **self.identity.as_dict(),
        }
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        os.replace(tmp, path)

    def handle(self) -> SandboxHandle:
        """The handle describing this server."""
        ident = self.identity
        return SandboxHandle(
            base_url=self.base_url,
            ca_file=self.tls.ca_file,
            data_dir=self.data_dir,
            username=ident.username,
            password=ident.password,
            security_token=ident.security_token,
            client_id=ident.client_id,
            client_secret=ident.client_secret,
            private_key_file=self.jwt_files.private_key_file,
            admin_token=ident.admin_token,
            org=self.org,
            state=self.state,
        )

    def run(self) -> None:
        """Serve until uvicorn is told to stop (SIGINT/SIGTERM in the main thread)."""
        self.bulk.start()
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.close()

    def stop(self) -> None:
        """Ask uvicorn to stop (from another thread)."""
        self.server.should_exit = True

    def close(self) -> None:
        """Stop the Bulk worker and save counters; close the org."""
        self.bulk.stop()
        self.state.usage.close()
        self.org.close()
        self.socket.close()


@contextmanager
def running_sandbox(
    data_dir: Path,
    *,
    port: int = 0,
    schema_files: Sequence[Path] = (),
    faults: FaultsArg = None,
    daily_limit: int | None = None,
    seed: int | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Iterator[SandboxHandle]:
    """Run the sandbox in a background thread for the duration of a ``with`` block.

    Args:
        data_dir: the data directory (reused across runs: records and credentials persist).
        port: the port to bind on 127.0.0.1; 0 picks a free one.
        schema_files: extra schema YAML files.
        faults: the initial fault configuration.
        daily_limit: the daily API allocation (``None``: the saved one, default 100,000).
        seed: the fault seed.
        clock: the org's clock (tz-aware UTC), e.g. to step over getUpdated's minute windows.

    Yields:
        The handle of the running sandbox.

    Raises:
        RuntimeError: the server did not start.
    """
    server = SandboxServer(
        data_dir,
        port=port,
        schema_files=schema_files,
        faults=faults,
        daily_limit=daily_limit,
        seed=seed,
        clock=clock,
    )
    thread = threading.Thread(target=server.run, name="sandbox-crm", daemon=True)
    thread.start()
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.stop()
            thread.join(5)
            raise RuntimeError(f"the CRM sandbox did not start on {server.base_url}")
        time.sleep(0.005)
    try:
        yield server.handle()
    finally:
        server.stop()
        thread.join(0.3)
        if thread.is_alive():  # idle keep-alive TLS connections: do not wait for clients
            server.server.force_exit = True
            thread.join(15)


def serve(server: SandboxServer) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (the CLI)."""
    server.run()
