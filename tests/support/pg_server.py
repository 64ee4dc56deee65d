"""A PostgreSQL server of the test session's own, for settings the shared server lacks.

The shared server (127.0.0.1:5432) runs with PostgreSQL's defaults, among them
``max_prepared_transactions = 0``: no two-phase commit. A test that needs another server
setting starts this one from the same installation's binaries: a fresh cluster in a
temporary directory, on a free port, with trust authentication, stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
"""Debian's PostgreSQL installations, newest first."""


def binaries() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, else Debian's."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidate = Path(found.stdout.strip())
        if found.returncode == 0 and (candidate / "initdb").exists():
            return candidate
    for candidate in BIN_DIRS:
        if (candidate / "initdb").exists():
            return candidate
    raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` user when run as root (the server refuses root)."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class Server:
    """A private PostgreSQL cluster that can be stopped and started again as it was (same
    port, same data)."""

    bindir: Path
    data: Path
    log: Path
    options: str
    url: str
    """Its admin URL."""

    def _ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log)]
        subprocess.run(
            _as_owner([*command, "-o", self.options, "-w", *args]), check=True, capture_output=True
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")


@contextmanager
def restartable_server(settings: Mapping[str, str] | None = None) -> Iterator[Server]:
    """Run a fresh PostgreSQL cluster with ``settings`` on a free port; yield it (the test may
    stop and start it again).

    The cluster lives in a new directory under the system's temporary directory (the server's
    user must reach it, which pytest's per-user one does not allow), stopped and removed at
    the end.

    Raises:
        FileNotFoundError: no server binaries.
        subprocess.CalledProcessError: the cluster could not be created or started.
    """
    bindir = binaries()
    root = Path(tempfile.mkdtemp(prefix="tandem-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        for folder in (root, sockets):
            shutil.chown(folder, "postgres", "postgres")
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
        subprocess.run(_as_owner(initdb), check=True, capture_output=True)
        port = _free_port()
        options = [
            f"-p {port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={sockets}",
            "-c fsync=off",
            *(f"-c {name}={value}" for name, value in (settings or {}).items()),
        ]
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        server = Server(bindir, data, root / "server.log", " ".join(options), url)
        server.start()
        try:
            yield server
        finally:
            subprocess.run(
                _as_owner(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
                ),
                capture_output=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def private_server(settings: Mapping[str, str]) -> Iterator[str]:
    """Run a fresh PostgreSQL cluster with ``settings`` (:func:`restartable_server`); yield
    its admin URL."""
    with restartable_server(settings) as server:
        yield server.url
