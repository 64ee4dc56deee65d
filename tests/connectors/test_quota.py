"""The quota governor: reserve kept, usage read from headers, calls counted."""

from __future__ import annotations

import httpx
import pytest

from tandem.connectors.quota import QuotaGovernor, parse_limit_info
from tandem.errors import Fatal


def test_parse_limit_info() -> None:
    assert parse_limit_info("api-usage=25/15000") == (25, 15000)
    assert parse_limit_info("api-usage=25/15000; api-bursts=1/10") == (25, 15000)
    assert parse_limit_info("per-app-api-usage=17/250(appName=x)") is None  # only org usage
    assert parse_limit_info(None) is None


async def test_reserve_refuses_the_call_that_would_eat_into_it() -> None:
    governor = QuotaGovernor(0.2)
    governor.observe(httpx.Response(200, headers={"Sforce-Limit-Info": "api-usage=798/1000"}))
    await governor.acquire()  # 799 <= 800
    await governor.acquire()  # 800 <= 800
    with pytest.raises(Fatal) as info:
        await governor.acquire()
    assert str(info.value).endswith(
        "daily API budget reserve reached: used 800 of 1000, reserve 20%"
    )
    assert governor.calls_made == 2


async def test_unknown_budget_lets_calls_through() -> None:
    governor = QuotaGovernor(0.5)
    for _ in range(3):
        await governor.acquire()
    assert governor.calls_made == 3


async def test_wait_mode_sleeps_and_probes_until_budget_recovers() -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    governor: QuotaGovernor

    async def probe() -> None:
        if len(delays) == 2:  # the rolling window freed calls
            governor.update(500, 1000)

    governor = QuotaGovernor(
        0.2, on_reserve="wait", wait_interval=30, probe=probe, sleep=sleep, max_wait=600
    )
    governor.update(900, 1000)
    await governor.acquire()
    assert delays == [30, 30]
    assert governor.calls_made == 1


async def test_wait_mode_gives_up_after_max_wait() -> None:
    async def sleep(seconds: float) -> None:
        return None

    async def probe() -> None:
        return None

    governor = QuotaGovernor(
        0.2, on_reserve="wait", wait_interval=60, max_wait=120, probe=probe, sleep=sleep
    )
    governor.update(950, 1000)
    with pytest.raises(Fatal, match="reserve reached"):
        await governor.acquire()


def test_reserve_must_be_a_share() -> None:
    with pytest.raises(ValueError):
        QuotaGovernor(1.5)
