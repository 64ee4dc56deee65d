"""``tandem run`` and ``tandem sync`` (child processes) while another process holds the SQLite
state store's write lock past the store's wait (shortened to 1 s in the child, 30 s by
default): the agent holds its passes back and goes on once the lock is gone; a one-off sync
stops with a message saying the database is busy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_lock import write_locked
from tandem_env import Env, build_env
from test_run_resilience_agent import DEADLINE, crm_phone, linked, wait_until

TANDEM_QUICK = (
    sys.executable,
    "-c",
    "import tandem.store.engine as e; e.LOCK_WAIT_SECONDS = 1\nfrom tandem.cli import main\nmain()",
)
"""``tandem``, its state store waiting 1 s for a lock."""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=3)


def test_run_holds_back_while_the_state_store_is_locked(env: Env) -> None:
    output = env.folder / "run.log"
    with output.open("w") as sink:
        run = subprocess.Popen(
            [*TANDEM_QUICK, "run", "-c", str(env.config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=env.folder,
        )
    try:

        def log() -> str:
            return output.read_text(encoding="utf-8", errors="replace")

        wait_until("the initial load", lambda: linked(env) == 3)
        with write_locked(env.folder / "state.db"):
            env.erp("UPDATE customers SET phone = '+48 500 500 500' WHERE id = 1")
            wait_until(
                "a pass held back",
                lambda: log().count("held back, retrying") >= 2 or run.poll() is not None,
            )
            assert run.poll() is None, log()
        assert "the database is busy" in log()
        wait_until("the edit in the CRM", lambda: crm_phone(env, 1) == "+48 500 500 500")
        run.terminate()
        assert run.wait(timeout=DEADLINE) == 0, log()
        assert "tandem: stopped" in log()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(timeout=DEADLINE)


def test_sync_stops_with_a_clear_message_while_the_state_store_is_locked(env: Env) -> None:
    first = subprocess.run(
        [*TANDEM_QUICK, "sync", "-c", str(env.config), "--no-progress"],
        capture_output=True,
        text=True,
        cwd=env.folder,
        timeout=DEADLINE,
    )
    assert first.returncode == 0, first.stderr
    with write_locked(env.folder / "state.db"):
        locked = subprocess.run(
            [*TANDEM_QUICK, "sync", "-c", str(env.config), "--no-progress"],
            capture_output=True,
            text=True,
            cwd=env.folder,
            timeout=DEADLINE,
        )
    assert locked.returncode == 1, locked.stdout + locked.stderr
    message = " ".join(locked.stderr.split())
    assert "the database is busy" in message
    assert "nothing of this transaction was saved" in message
