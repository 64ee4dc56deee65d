"""``tandem run`` when the daily API budget's reserve is reached: it pauses, it does not die.

The agent runs as a child process against the sandbox (in this process, so the test can lower
the org's daily allocation while the agent runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tandem_env import Env, build_env
from test_run_resilience_agent import agent, crm_phone, linked, wait_until

from tandem.connectors.quota import RESERVE_CODE, QuotaGovernor
from tandem.errors import Fatal


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=5)


def test_run_pauses_at_the_budget_reserve_and_a_later_start_delivers_the_edit(env: Env) -> None:
    with agent(env.config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 5)
        used = env.crm.state.usage.used
        env.crm.set_daily_limit(used + 2)  # 80% of it is already spent
        env.erp("UPDATE customers SET phone = '+48 555 555 555' WHERE id = 5")
        wait_until(
            "the reserve reached",
            lambda: "reserve reached" in run.log() or not run.alive(),
        )
        assert run.alive(), run.log()
        assert crm_phone(env, 5) != "+48 555 555 555"  # nothing written into the reserve
        assert run.stop() == 0, run.log()
    assert "tandem: stopped" in run.log()

    env.crm.set_daily_limit(100_000)
    with agent(env.config, env.folder, "again") as again:
        wait_until("the edit in the CRM", lambda: crm_phone(env, 5) == "+48 555 555 555")
        assert again.stop() == 0, again.log()


def test_run_pauses_when_the_org_refuses_calls_over_its_daily_allocation(env: Env) -> None:
    """Other integrations spent the org's whole allocation between two of the agent's calls:
    Salesforce answers REQUEST_LIMIT_EXCEEDED, which no reserve could foresee."""
    with agent(env.config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 5)
        env.crm.set_faults({"limit_after": 0})
        wait_until(
            "the org's refusal",
            lambda: "REQUEST_LIMIT_EXCEEDED" in run.log() or not run.alive(),
        )
        assert run.alive(), run.log()
        assert "pausing" in run.log()
        assert run.stop() == 0, run.log()


def _at(used: int) -> httpx.Response:
    return httpx.Response(200, headers={"Sforce-Limit-Info": f"api-usage={used}/1000"})


async def test_a_refusing_governor_reads_the_figures_again_once_they_are_old() -> None:
    """A refusal makes no call, so no answer renews the figures: a governor that refused
    reads them again (one probe) once they are ``wait_interval`` old, and lets calls through
    when the rolling window has freed some."""
    now = [0.0]
    probes: list[float] = []
    governor: QuotaGovernor

    async def probe() -> None:
        probes.append(now[0])
        governor.update(900 if len(probes) == 1 else 100, 1000)

    governor = QuotaGovernor(0.2, wait_interval=60, probe=probe, clock=lambda: now[0])
    governor.observe(_at(900))
    with pytest.raises(Fatal) as refused:
        await governor.acquire()
    assert refused.value.code == RESERVE_CODE
    now[0] = 30.0
    with pytest.raises(Fatal):
        await governor.acquire()
    assert probes == []  # figures 30 s old are trusted
    now[0] = 61.0
    with pytest.raises(Fatal):
        await governor.acquire()  # read again: still in the reserve
    assert probes == [61.0]
    now[0] = 130.0
    await governor.acquire()  # read again: the window freed calls
    assert probes == [61.0, 130.0]
    assert governor.calls_made == 1
