"""Stopping ``tandem run`` (a child process): the first signal lets the pass end (cutting a
wait between tries short), a second one stops at once, and a restart delivers what was not
committed, once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env
from test_run_resilience_agent import agent, crm_phone, linked, wait_until


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=5)


def test_a_second_signal_stops_a_pass_held_up_by_a_slow_call(env: Env) -> None:
    """The CRM takes 40 s to answer each call: the first signal lets the pass under way go on
    to its next batch (a call in flight is not a wait that can be cut short), Ctrl-C then
    stops it at once, and
    the next start delivers the edit the stopped pass had not, creating nothing twice."""
    with agent(env.config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 5)
        env.crm.set_faults({"latency_ms": 40_000})
        env.erp("UPDATE customers SET phone = '+48 666 666 666' WHERE id = 2")
        time.sleep(3)  # the agent polls every second: a pass's first call is in flight
        run.process.send_signal(signal.SIGTERM)
        wait_until("the first signal noted", lambda: "stopping at the pass" in run.log())
        assert run.alive(), run.log()  # held by the call in flight
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=60) == 128 + signal.SIGINT, run.log()
    assert "stopped in the middle of a pass" in run.log()

    env.crm.clear_faults()
    with agent(env.config, env.folder, "again") as again:
        wait_until("the edit in the CRM", lambda: crm_phone(env, 2) == "+48 666 666 666")
        assert again.stop() == 0, again.log()
    assert len(env.crm_rows("SELECT Id FROM Account")) == 5


def test_the_first_signal_cuts_a_long_retry_after_short(env: Env) -> None:
    """The CRM asks for 100 s between tries (Retry-After, waited in place): SIGTERM ends the
    wait, the pass is abandoned there and the agent stops as after a normal stop (exit 0),
    with nothing committed that the CRM had not confirmed; the next start delivers the edit,
    creating nothing twice."""
    with agent(env.config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 5)
        env.erp("UPDATE customers SET phone = '+48 616 161 616' WHERE id = 3")
        env.crm.set_faults({"error_rates": {"503": 1.0}, "retry_after_s": 100})
        wait_until("a retry held up by Retry-After", lambda: "retry 1 in 100" in run.log())
        run.process.send_signal(signal.SIGTERM)
        # well inside the 100 s asked for (nothing here times the stop more finely)
        assert run.process.wait(timeout=30) == 0, run.log()
    log = run.log()
    assert "abandoned to stop" in log
    assert "tandem: stopped" in log
    assert "stopped in the middle of a pass" not in log
    assert crm_phone(env, 3) != "+48 616 161 616"

    env.crm.clear_faults()
    with agent(env.config, env.folder, "again") as again:
        wait_until("the edit in the CRM", lambda: crm_phone(env, 3) == "+48 616 161 616")
        assert again.stop() == 0, again.log()
    assert len(env.crm_rows("SELECT Id FROM Account")) == 5
