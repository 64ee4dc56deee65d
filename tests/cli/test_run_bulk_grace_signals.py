"""``tandem run`` (a child process) stopped while the org is still processing a Bulk 2.0 job:
the sandbox holds the job InProgress at a slow pace (``bulk_rows_per_second``), as a real org
does. The first SIGTERM gives the job ``stop_grace_seconds``: one that completes within it is
collected, not sent again. A second SIGTERM aborts it in the org. Either way a restart and a
reconcile find every record once."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_run import tandem_json
from tandem_env import Env, build_env
from test_run_resilience_agent import DEADLINE, TANDEM, agent, crm_phone, linked, wait_until
from test_signal_waits import _agreed

pytestmark = pytest.mark.slow

AUTH = "    auth_flow: password\n"
GRACE = "    bulk_threshold: 1\n    bulk_poll_interval: 0.5\n    stop_grace_seconds: 600\n"
"""Every write of more than one record goes by Bulk; a running job gets ten minutes' grace."""

CUSTOMERS = 5


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=CUSTOMERS)


def _crm_settings(env: Env, extra: str) -> None:
    """Add ``extra`` lines to the CRM connection's settings of the pristine flow."""
    text = env.config.read_text(encoding="utf-8")
    assert AUTH in text
    env.config.write_text(text.replace(AUTH, AUTH + extra, 1), encoding="utf-8")


def _account_jobs(env: Env) -> list[str]:
    """The states of the sandbox's Bulk ingest jobs on Accounts, oldest first."""
    jobs = env.crm.state.bulk.list_jobs("ingest")
    return [str(job["state"]) for job in jobs if job["object"] == "Account"]


def _restart_and_reconcile(env: Env) -> None:
    """One ``tandem sync`` pass (the restart), then ``tandem reconcile``: no differences, every
    ERP customer has exactly one account, and both sides and the state name the same pairs."""
    command = [*TANDEM, "sync", "-c", str(env.config), "--no-progress"]
    again = subprocess.run(command, capture_output=True, text=True, cwd=env.folder, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    found = tandem_json("reconcile", "-c", str(env.config), "--no-progress")
    assert found["differences"] == 0, found
    _agreed(env)


class Command:
    """``tandem COMMAND -c CONFIG`` as a child process, its output in a file."""

    def __init__(self, env: Env, command: str) -> None:
        self.output = env.folder / f"{command}.log"
        extra = ["--no-progress"] if command == "sync" else []
        with self.output.open("w") as sink:
            self.process = subprocess.Popen(
                [*TANDEM, command, "-c", str(env.config), *extra],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=env.folder,
            )

    def log(self) -> str:
        return " ".join(self.output.read_text(encoding="utf-8", errors="replace").split())


def _processed(env: Env) -> int:
    """Rows the org has processed of the (one) Bulk job on Accounts."""
    (job,) = [j for j in env.crm.state.bulk.list_jobs("ingest") if j["object"] == "Account"]
    return int(env.crm.state.bulk.info("ingest", str(job["id"]))["numberRecordsProcessed"])


@pytest.mark.parametrize("command", ["sync", "run"])
def test_a_second_signal_aborts_the_job_the_org_is_still_processing(env: Env, command: str) -> None:
    """The org takes 4 s a row over the initial load's job: the first SIGTERM leaves the
    agent polling it within its grace, the second aborts it in the org (the rows it had
    processed stay) and stops at once (128 + SIGTERM). The restart sends the customers again,
    each landing once."""
    _crm_settings(env, GRACE)
    env.crm.set_faults({"bulk_rows_per_second": 0.25})  # 16 s left after the first row
    started = Command(env, command)
    try:
        wait_until("the org processing the job", lambda: _account_jobs(env) == ["InProgress"])
        wait_until("a row processed", lambda: _processed(env) > 0)
        started.process.send_signal(signal.SIGTERM)
        wait_until("the first signal noted", lambda: "signal again to stop" in started.log())
        assert started.process.poll() is None, started.log()  # the job has its grace
        started.process.send_signal(signal.SIGTERM)
        assert started.process.wait(timeout=DEADLINE) == 128 + signal.SIGTERM, started.log()
    finally:
        started.process.kill()
        started.process.wait()
    assert "aborting 1 Bulk job(s) in flight" in started.log()
    assert _account_jobs(env) == ["Aborted"], started.log()
    processed = _processed(env)
    # Aborted mid-way: the rows the org had processed stay written, nothing was collected.
    assert len(env.crm_rows("SELECT Id FROM Account")) == processed < CUSTOMERS
    assert linked(env) == 0

    env.crm.clear_faults()
    _restart_and_reconcile(env)


def test_a_job_completing_within_the_grace_is_collected_and_not_sent_again(env: Env) -> None:
    """The org takes a second a row: after the first SIGTERM the agent polls the job within its
    grace, collects it as it completes and exits 0. The next start links nothing anew: no
    second Bulk job on Accounts, and an edit after it goes through as usual."""
    _crm_settings(env, GRACE)
    env.crm.set_faults({"bulk_rows_per_second": 1})
    with agent(env.config, env.folder) as run:
        wait_until("the org processing the job", lambda: _account_jobs(env) == ["InProgress"])
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=DEADLINE) == 0, run.log()
    log = run.log()
    assert "tandem: stopped" in log, log
    assert "not collected" not in log, log
    assert _account_jobs(env) == ["JobComplete"]
    assert linked(env) == CUSTOMERS  # collected within the grace and committed

    env.crm.clear_faults()
    env.erp("UPDATE customers SET phone = '+48 600 300 400' WHERE id = 2")
    _restart_and_reconcile(env)
    assert crm_phone(env, 2) == "+48 600 300 400"
    assert _account_jobs(env) == ["JobComplete"]  # its records were not sent again
