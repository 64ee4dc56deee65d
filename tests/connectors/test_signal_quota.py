"""The quota governor's wait for the budget (``on_reserve="wait"``) ends once the agent is told
to stop (``waits_cut_short_by``): it raises ``Stopping`` and lets no call through."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tandem.connectors.http import waits_cut_short_by
from tandem.connectors.quota import QuotaGovernor
from tandem.errors import Stopping


async def test_the_wait_for_the_budget_ends_when_the_agent_stops() -> None:
    stop = asyncio.Event()
    began = asyncio.Event()
    probes: list[int] = []

    async def sleep(seconds: float) -> None:
        began.set()
        await asyncio.sleep(seconds)

    async def probe() -> None:
        probes.append(1)

    governor = QuotaGovernor(0.2, on_reserve="wait", wait_interval=100, probe=probe, sleep=sleep)
    governor.observe(httpx.Response(200, headers={"Sforce-Limit-Info": "api-usage=900/1000"}))
    with waits_cut_short_by(stop):
        waiting = asyncio.ensure_future(governor.acquire())
        await began.wait()
        stop.set()
        with pytest.raises(Stopping, match=r"reserve reached.*the agent is stopping"):
            await asyncio.wait_for(waiting, timeout=30)
    assert probes == []  # no look at the figures, no call let through
    assert governor.calls_made == 0
