"""The first SIGTERM ends every wait of ``tandem run`` (a child process) at once: a Bulk job's
poll (ingest or query), the quota governor's wait for the budget, a ``Retry-After`` met while
starting up. The agent exits 0 with nothing committed that was not confirmed, and a restart
delivers every record exactly once, the state agreeing with both systems. ``tandem sync`` (one
pass) ends at once on either signal too."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env
from test_run_resilience_agent import TANDEM, agent, crm_phone, linked, wait_until

from tandem.config import load_flow
from tandem.pipeline.runtime import open_store

STOPPED_WITHIN = 30.0
"""Seconds the agent may take to stop (a hang detector: each wait here is 100 s or more)."""

SLOW_BULK = "    bulk_threshold: 1\n    bulk_poll_interval: 300\n"
"""Every write of more than one record goes by Bulk, and a job is first polled after 300 s."""

AUTH = "    auth_flow: password\n"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=5)


def _crm_settings(env: Env, extra: str) -> None:
    """Put ``extra`` lines into the CRM connection's settings ('' takes them out again)."""
    text = env.config.read_text(encoding="utf-8")
    text = text.replace(AUTH + SLOW_BULK, AUTH).replace(AUTH, AUTH + extra)
    env.config.write_text(text, encoding="utf-8")


def _agreed(env: Env) -> None:
    """Every ERP customer has exactly one account, and both sides and the state name the same
    pair of keys."""
    accounts = env.crm_rows("SELECT Id, ERP_Id__c FROM Account")
    by_erp = {str(row["ERP_Id__c"]): str(row["Id"]) for row in accounts}
    assert len(by_erp) == len(accounts) == 5, accounts
    erp = {str(key): str(crm) for key, crm in env.erp_rows("SELECT id, crm_id FROM customers")}
    assert erp == by_erp
    store = open_store(load_flow(env.config))
    try:
        assert store.partners("customer", "erp", sorted(by_erp)) == by_erp
    finally:
        store.close()


def test_the_first_signal_ends_a_bulk_job_poll_and_a_restart_creates_nothing_twice(
    env: Env,
) -> None:
    """The initial load goes by Bulk, and the agent means to poll the job after 300 s: the job
    is done in the CRM but not collected. SIGTERM ends the wait (exit 0); one look finds the
    job complete, so its results are collected and committed rather than sent again; the next
    start creates nothing twice."""
    _crm_settings(env, SLOW_BULK)
    with agent(env.config, env.folder) as run:
        wait_until("a Bulk job done in the CRM", lambda: _ingest_states(env) == ["JobComplete"])
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=STOPPED_WITHIN) == 0, run.log()
    log = run.log()
    assert "abandoned to stop" in log, log
    assert "tandem: stopped" in log
    assert len(env.crm_rows("SELECT Id FROM Account")) == 5
    assert linked(env) == 5  # the finished job was collected at the stop

    _crm_settings(env, "")
    env.erp("UPDATE customers SET phone = '+48 600 100 200' WHERE id = 4")
    with agent(env.config, env.folder, "again") as again:
        wait_until("the edit in the CRM", lambda: crm_phone(env, 4) == "+48 600 100 200")
        assert again.stop() == 0, again.log()
    _agreed(env)


def test_a_job_still_queued_when_the_agent_stops_is_aborted_not_landed_later(env: Env) -> None:
    """The org has not started the initial load's Bulk job when SIGTERM comes (its job queue
    held): the agent aborts the job and exits 0, so it cannot land later over what a restart
    sends; the restart sends the records again, each created once."""
    env.crm.state.bulk.stop()  # jobs wait in the org's queue
    _crm_settings(env, SLOW_BULK + "    stop_grace_seconds: 1\n")  # a queued job's grace
    with agent(env.config, env.folder) as run:
        wait_until("a Bulk job handed over", lambda: _ingest_states(env) == ["UploadComplete"])
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=STOPPED_WITHIN) == 0, run.log()
    assert "tandem: stopped" in run.log()
    assert _ingest_states(env) == ["Aborted"], run.log()
    env.crm.state.bulk.start()
    assert linked(env) == 0
    assert env.crm_rows("SELECT Id FROM Account") == []

    _crm_settings(env, "")
    with agent(env.config, env.folder, "again") as again:
        wait_until("the initial load", lambda: linked(env) == 5)
        assert again.stop() == 0, again.log()
    _agreed(env)


def test_the_first_signal_ends_a_bulk_query_poll(env: Env) -> None:
    """Three accounts edited in the CRM are read by a Bulk query the agent means to poll
    after 300 s: SIGTERM ends the wait (exit 0) with nothing of the read committed; the next
    start brings the edits to the ERP."""
    with agent(env.config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 5)
        assert run.stop() == 0, run.log()
    accounts = env.crm_rows("SELECT Id, ERP_Id__c FROM Account WHERE ERP_Id__c IN ('1','2','3')")
    for account in accounts:
        env.crm.org.update(
            "Account", str(account["Id"]), {"Phone": "+48 600 000 00" + str(account["ERP_Id__c"])}
        )
    _crm_settings(env, SLOW_BULK)
    with agent(env.config, env.folder, "stopped") as run:
        wait_until("a Bulk query job", lambda: bool(env.crm.state.bulk.list_jobs("query")))
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=STOPPED_WITHIN) == 0, run.log()
    assert "abandoned to stop" in run.log(), run.log()
    assert _erp_phones(env) == []

    _crm_settings(env, "")
    with agent(env.config, env.folder, "again") as again:
        wait_until("the edits in the ERP", lambda: len(_erp_phones(env)) == 3)
        assert again.stop() == 0, again.log()
    assert _erp_phones(env) == [(n, f"+48 600 000 00{n}") for n in (1, 2, 3)]
    _agreed(env)


def _erp_phones(env: Env) -> list[tuple[object, ...]]:
    rows = env.erp_rows("SELECT id, phone FROM customers WHERE phone LIKE '+48 600 000 00%'")
    return sorted(tuple(row) for row in rows)


def test_the_first_signal_ends_the_wait_for_the_api_budget(env: Env) -> None:
    """``on_quota_reserve: wait``: the reserve is reached and the governor waits (a minute
    between looks) for the budget. SIGTERM ends the wait (exit 0); the next start, the budget
    back, delivers the edit."""
    _crm_settings(env, "    on_quota_reserve: wait\n")
    with agent(env.config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 5)
        env.crm.set_daily_limit(env.crm.state.usage.used + 2)
        env.erp("UPDATE customers SET phone = '+48 515 151 515' WHERE id = 4")
        wait_until("the wait for the budget", lambda: "waiting 60s" in run.log())
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=STOPPED_WITHIN) == 0, run.log()
    assert "tandem: stopped" in run.log()
    assert crm_phone(env, 4) != "+48 515 151 515"

    env.crm.set_daily_limit(100_000)
    with agent(env.config, env.folder, "again") as again:
        wait_until("the edit in the CRM", lambda: crm_phone(env, 4) == "+48 515 151 515")
        assert again.stop() == 0, again.log()
    _agreed(env)


def test_the_first_signal_ends_a_retry_after_met_while_starting(env: Env) -> None:
    """The CRM asks for 100 s between tries while the agent describes it at start: SIGTERM
    ends the wait and the agent exits 0 without having synced; the next start does."""
    env.crm.set_faults({"error_rates": {"503": 1.0}, "retry_after_s": 100})
    with agent(env.config, env.folder) as run:
        wait_until("a retry held up by Retry-After", lambda: "retry 1 in 100" in run.log())
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=STOPPED_WITHIN) == 0, run.log()
    assert "tandem: stopped" in run.log()
    assert linked(env) == 0

    env.crm.clear_faults()
    with agent(env.config, env.folder, "again") as again:
        wait_until("the initial load", lambda: linked(env) == 5)
        assert again.stop() == 0, again.log()
    _agreed(env)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_ends_tandem_sync_waiting_for_a_bulk_job(env: Env, sig: signal.Signals) -> None:
    """``tandem sync`` (one pass) waits 300 s to poll its Bulk job: a signal ends the wait at
    once, as a pass left unfinished (exit code 128 + the signal's number); the job, found
    complete by one look, is collected and committed; the next sync creates none again."""
    _crm_settings(env, SLOW_BULK)
    command = [*TANDEM, "sync", "-c", str(env.config), "--no-progress"]
    with (env.folder / "sync.log").open("w") as sink:
        sync = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=env.folder)
        try:
            wait_until("a Bulk job done in the CRM", lambda: _ingest_states(env) == ["JobComplete"])
            sync.send_signal(sig)
            assert sync.wait(timeout=STOPPED_WITHIN) == 128 + sig
        finally:
            sync.kill()
            sync.wait()
    log = " ".join((env.folder / "sync.log").read_text(encoding="utf-8").split())
    assert "tandem: sync stopped" in log and "read again by the next sync" in log, log
    assert linked(env) == 5  # the finished job was collected at the stop

    _crm_settings(env, "")
    again = subprocess.run(command, capture_output=True, text=True, cwd=env.folder, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    _agreed(env)


def _ingest_states(env: Env) -> list[str]:
    return [str(job["state"]) for job in env.crm.state.bulk.list_jobs("ingest")]
