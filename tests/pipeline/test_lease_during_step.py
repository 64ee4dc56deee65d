"""The claim on a flow is renewed while one step of a pass outlasts it (a long Bulk poll, say):
no second agent can take the flow meanwhile, and an agent whose flow was taken over anyway
stops its pass at once, committing nothing.

The claim is made to last 3 s; the CRM's hand-over of a batch is made to take three times
as long (a patched connector coroutine that sleeps first).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest
from tandem_env import Env

from tandem.connectors.base import EntityBinding, WriteOp
from tandem.errors import StoreError
from tandem.pipeline import claim as claim_module
from tandem.pipeline.engine import Engine
from tandem.pipeline.runtime import open_store, running_engine

LEASE = 3.0
STEP = 3 * LEASE


def crm_phone(env: Env, erp_id: int) -> object:
    rows = env.crm_rows(f"SELECT Phone FROM Account WHERE ERP_Id__c = '{erp_id}'")
    return rows[0]["Phone"] if rows else None


def slow_hand_over(
    agent: Engine, monkeypatch: pytest.MonkeyPatch
) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the CRM's hand-over of a batch take :data:`STEP` seconds; the events are set once
    one is under way and once one got past its wait."""
    crm: Any = agent.systems.crm
    original = crm.submit_batch
    started, waited = asyncio.Event(), asyncio.Event()

    async def slow(binding: EntityBinding, ops: Sequence[WriteOp]) -> Any:
        started.set()
        await asyncio.sleep(STEP)
        waited.set()
        return await original(binding, ops)

    monkeypatch.setattr(crm, "submit_batch", slow)
    return started, waited


async def test_a_step_longer_than_the_claim_keeps_the_flow(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claim_module, "LEASE_SECONDS", LEASE)
    flow = env.flow()
    async with running_engine(flow) as agent:
        await agent.sync()  # the initial load, at full speed
        started, _ = slow_hand_over(agent, monkeypatch)
        env.erp("UPDATE customers SET phone = '+48 600 100 200' WHERE id = 3")
        passing = asyncio.create_task(agent.sync())
        await asyncio.wait_for(started.wait(), 30)
        other = open_store(flow)
        try:
            # a second agent asks, again and again, for longer than the claim lasts twice
            tries = 0
            until = time.monotonic() + 2 * LEASE
            while time.monotonic() < until:
                lease = await asyncio.to_thread(
                    other.acquire_lease, agent.lease_name, "intruder", LEASE
                )
                assert lease.holder == agent.holder
                tries += 1
                await asyncio.sleep(0.2)
            assert tries > 5
            assert not passing.done()  # the step was under way all along
        finally:
            other.close()
        report = await passing
    assert report.writes == 1
    assert crm_phone(env, 3) == "+48 600 100 200"


async def test_a_flow_taken_over_during_a_step_stops_the_pass(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claim_module, "LEASE_SECONDS", LEASE)
    flow = env.flow()
    async with running_engine(flow) as agent:
        await agent.sync()
        before = agent.store.cursor(flow.name, "customer", "erp")
        started, waited = slow_hand_over(agent, monkeypatch)
        env.erp("UPDATE customers SET phone = '+48 600 300 400' WHERE id = 4")
        passing = asyncio.create_task(agent.sync())
        await asyncio.wait_for(started.wait(), 30)
        other = open_store(flow)
        try:
            # an operator's second agent forces its way in (as after a holder it took for dead)
            taken = other.acquire_lease(agent.lease_name, "intruder", 60, replace=agent.holder)
            assert taken.holder == "intruder"
            with pytest.raises(StoreError, match="is being synced by intruder"):
                await passing
            # stopped at the next renewal, in the middle of the slow step
            assert not waited.is_set()
        finally:
            other.release_lease(agent.lease_name, "intruder")
            other.close()
        # nothing of the stopped pass was committed: the cursor stayed, the CRM has no edit
        assert agent.store.cursor(flow.name, "customer", "erp") == before
        assert crm_phone(env, 4) != "+48 600 300 400"
