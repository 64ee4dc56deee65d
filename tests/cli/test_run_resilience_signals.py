"""Stopping ``tandem run`` (a child process): the first signal lets the pass end, a second one
stops at once, and a restart delivers what was not committed, once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env
from test_run_resilience_agent import agent, crm_phone, linked, wait_until


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=5)


def test_a_second_signal_stops_a_pass_held_up_by_a_long_retry_after(env: Env) -> None:
    """The CRM asks for 100 s between tries (Retry-After, waited in place): a pass would hold
    the agent for minutes after SIGTERM; Ctrl-C then stops it at once, and the next start
    delivers the edit the stopped pass had not, creating nothing twice."""
    with agent(env.config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 5)
        env.erp("UPDATE customers SET phone = '+48 666 666 666' WHERE id = 2")
        env.crm.set_faults({"error_rates": {"503": 1.0}, "retry_after_s": 100})
        wait_until("a retry held up by Retry-After", lambda: "retry 1 in 100" in run.log())
        run.process.send_signal(signal.SIGTERM)
        wait_until("the first signal noted", lambda: "stopping after the pass" in run.log())
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=60) == 128 + signal.SIGINT, run.log()
    assert "stopped in the middle of a pass" in run.log()

    env.crm.clear_faults()
    with agent(env.config, env.folder, "again") as again:
        wait_until("the edit in the CRM", lambda: crm_phone(env, 2) == "+48 666 666 666")
        assert again.stop() == 0, again.log()
    assert len(env.crm_rows("SELECT Id FROM Account")) == 5
