"""A MariaDB server of the test session's own, for what the shared server cannot show.

The shared server (127.0.0.1:3306) runs with its operating system's clock in UTC. Some of
MariaDB's own output follows that clock's zone rather than the session's ``time_zone``
(``information_schema.INNODB_TRX.trx_started``), which a UTC server cannot tell apart. This
one is started from the same installation's ``mariadbd`` with ``TZ`` set: a fresh data
directory in a temporary directory, on a free port, root without a password, stopped at the
end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise FileNotFoundError(f"no {name} on this machine (MariaDB server binaries)")
    return found


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    engine = sa.create_engine(url)
    try:
        for _ in range(600):  # up to a minute on a busy machine
            if server.poll() is not None:
                raise subprocess.CalledProcessError(
                    server.returncode, "mariadbd", stderr=log.read_bytes()
                )
            try:
                with engine.connect():
                    return
            except sa.exc.OperationalError:
                time.sleep(0.1)
        raise subprocess.CalledProcessError(1, "mariadbd", stderr=b"did not start in time")
    finally:
        engine.dispose()


@contextmanager
def private_server(os_zone: str) -> Iterator[str]:
    """Run a fresh MariaDB server whose operating-system time zone is ``os_zone`` (``TZ``);
    yield its admin URL (``mysql+pymysql``, root).

    Raises:
        FileNotFoundError: no server binaries.
        subprocess.CalledProcessError: the data directory could not be created or the server
            did not start.
    """
    install, mariadbd = _binary("mariadb-install-db"), _binary("mariadbd")
    root = Path(tempfile.mkdtemp(prefix="tandem-mariadb-"))
    data, log = root / "data", root / "server.log"
    user = ["--user=root"] if os.geteuid() == 0 else []
    try:
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={data}",
                *user,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
        )
        port = _free_port()
        command = [
            mariadbd, "--no-defaults", *user, f"--datadir={data}", f"--port={port}",
            "--bind-address=127.0.0.1", f"--socket={root / 'sock'}",
            f"--pid-file={root / 'pid'}", "--skip-log-bin", "--innodb-buffer-pool-size=32M",
            "--innodb-flush-log-at-trx-commit=0",
        ]  # fmt: skip
        with log.open("wb") as out:
            server = subprocess.Popen(
                command, env={**os.environ, "TZ": os_zone}, stdout=out, stderr=out
            )
        url = f"mysql+pymysql://root@127.0.0.1:{port}/"
        try:
            _wait_until_up(url, server, log)
            yield url
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
