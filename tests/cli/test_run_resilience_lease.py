"""One writer per flow: an agent waiting between passes keeps its claim on the flow.

The claim lasts 120 s unless renewed; an agent on an interval of some minutes spends most of
its time waiting. Here the claim is made to last 3 s, and the agent waits an hour.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env
from test_run_resilience_agent import agent, crm_phone, linked, wait_until

from tandem.pipeline import claim as claim_module
from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import open_store, running_engine

LEASE = 3.0


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=3)


async def test_an_agent_waiting_between_passes_keeps_the_flow(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claim_module, "LEASE_SECONDS", LEASE)
    flow = env.flow(**{"{mode: continuous, poll_seconds: 1.0}": "{mode: interval, seconds: 3600}"})
    passes: list[PassReport] = []
    stop = asyncio.Event()
    async with running_engine(flow) as agent:
        running = asyncio.create_task(agent.run(stop, on_pass=passes.append))
        while not passes:
            assert not running.done()
            await asyncio.sleep(0.05)
        other = open_store(flow)
        try:
            # a second agent asks, again and again, over twice as long as a claim lasts
            until = time.monotonic() + 2 * LEASE
            while time.monotonic() < until:
                lease = await asyncio.to_thread(
                    other.acquire_lease, agent.lease_name, "intruder", LEASE
                )
                assert lease.holder == agent.holder
                await asyncio.sleep(0.2)
        finally:
            other.close()
        assert len(passes) == 1  # the agent was waiting all along
        stop.set()
        await running


def test_a_second_agent_on_the_flow_stops_naming_the_first(env: Env) -> None:
    with agent(env.config, env.folder, "first") as first:
        wait_until("the initial load", lambda: linked(env) == 3)
        with agent(env.config, env.folder, "second") as second:
            assert second.process.wait(timeout=60) == 1
        assert "is being synced by" in second.log()
        assert str(first.process.pid) in second.log()
        env.erp("UPDATE customers SET phone = '+48 777 777 777' WHERE id = 1")
        wait_until("the edit in the CRM", lambda: crm_phone(env, 1) == "+48 777 777 777")
        assert first.stop() == 0, first.log()
