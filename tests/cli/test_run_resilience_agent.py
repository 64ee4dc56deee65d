"""``tandem run`` as a user runs it (a child process) while the systems around it fail.

The ERP is a PostgreSQL server of the test's own (stopped and started again on the same port
and data directory: never the shared server), the CRM the sandbox; the agent must ride out
what an outage throws at it and deliver every edit once the system is back, without a restart.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pg_server import Server, restartable_server
from tandem_env import Env, build_env

TANDEM = (sys.executable, "-c", "from tandem.cli import main; main()")
"""The ``tandem`` command, in this interpreter."""

DEADLINE = 60.0
"""Seconds a poll waits for what must happen (generous: nothing here asserts timing)."""


def wait_until(what: str, condition: Callable[[], bool], timeout: float = DEADLINE) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Agent:
    """``tandem run -c CONFIG`` as a child process, its output (stdout and stderr) in a file."""

    def __init__(self, config: Path, folder: Path, name: str = "run") -> None:
        self.output = folder / f"{name}.log"
        with self.output.open("w") as sink:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from tandem.cli import main; main()",
                    "run",
                    "-c",
                    str(config),
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=folder,
            )

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig``; the exit code."""
        if self.alive():
            self.process.send_signal(sig)
        return self.process.wait(timeout=DEADLINE)

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=DEADLINE)


@contextmanager
def agent(config: Path, folder: Path, name: str = "run") -> Iterator[Agent]:
    """An :class:`Agent`, killed at the end if the test left it running."""
    started = Agent(config, folder, name)
    try:
        yield started
    finally:
        started.kill()


def crm_phone(env: Env, erp_id: int) -> object:
    """The phone of the CRM account of ERP customer ``erp_id`` (``None``: no such account)."""
    rows = env.crm_rows(f"SELECT Phone FROM Account WHERE ERP_Id__c = '{erp_id}'")
    return rows[0]["Phone"] if rows else None


def linked(env: Env) -> int:
    """ERP customers that know their CRM partner."""
    (row,) = env.erp_rows("SELECT COUNT(*) FROM customers WHERE crm_id IS NOT NULL")
    count = row[0]
    assert isinstance(count, int)
    return count


@pytest.fixture
def pg_env(tmp_path: Path) -> Iterator[tuple[Env, Server]]:
    """The demo flow between an ERP on a private PostgreSQL server and the sandbox."""
    with restartable_server() as server:
        for env in build_env(tmp_path, server.url, customers=5):
            yield env, server


def test_run_rides_out_the_erp_database_going_away_when_a_describe_comes_due(
    pg_env: tuple[Env, Server],
) -> None:
    """The ERP server stops while a running agent's periodic describe comes due (every second
    here, hourly by default): the agent waits for it like for any outage, and the edit made
    once it is back reaches the CRM without a restart."""
    env, server = pg_env
    config = env.config
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "defaults:\n", "describe_cache_seconds: 1\ndefaults:\n"
        ),
        encoding="utf-8",
    )
    with agent(config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 5)
        server.stop()
        # two passes held back: the second at least came after a describe was due
        wait_until(
            "two passes held back by the outage",
            lambda: run.log().count("interrupted, retrying") >= 2 or not run.alive(),
        )
        assert run.alive(), run.log()
        server.start()
        env.erp("UPDATE customers SET phone = '+48 444 444 444' WHERE id = 4")
        wait_until("the edit in the CRM", lambda: crm_phone(env, 4) == "+48 444 444 444")
        assert run.stop() == 0, run.log()
    assert "tandem: stopped" in run.log()
