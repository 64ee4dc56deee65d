"""A wait between tries ends once the agent is told to stop (``waits_cut_short_by``): the
call raises ``Stopping`` (a ``Retriable``) instead of trying again; outside, waits are slept."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tandem.connectors.http import (
    HttpTransport,
    InFlight,
    in_flight,
    stopping,
    stopping_now,
    waits_cut_short_by,
)
from tandem.errors import Retriable, Stopping


class Replies:
    """503 asking for ``retry_after`` seconds, then 200."""

    def __init__(self, retry_after: str) -> None:
        self.retry_after = retry_after
        self.seen = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.seen == 1:
            return httpx.Response(503, headers={"Retry-After": self.retry_after}, text="busy")
        return httpx.Response(200, json={})


async def test_a_long_retry_after_is_cut_short_by_stop() -> None:
    replies = Replies("100")
    stop = asyncio.Event()
    waiting: list[float] = []
    began = asyncio.Event()

    async def sleep(seconds: float) -> None:
        waiting.append(seconds)
        began.set()
        await asyncio.sleep(seconds)

    async with httpx.AsyncClient(transport=httpx.MockTransport(replies)) as client:
        transport = HttpTransport(client, system="crm", sleep=sleep)
        with waits_cut_short_by(stop):
            call = asyncio.create_task(
                transport.request("GET", "https://crm.test/x", operation="read x")
            )
            await asyncio.wait_for(began.wait(), 30)
            assert waiting == [100.0]  # the wait asked for is under way
            stop.set()
            with pytest.raises(Stopping, match="the agent is stopping") as caught:
                await asyncio.wait_for(call, 30)
    assert isinstance(caught.value, Retriable)
    assert caught.value.retry_after == 100
    assert replies.seen == 1  # not tried again


async def test_a_wait_begun_after_stop_is_not_waited() -> None:
    replies = Replies("100")
    stop = asyncio.Event()
    stop.set()
    async with httpx.AsyncClient(transport=httpx.MockTransport(replies)) as client:
        transport = HttpTransport(client, system="crm")
        with waits_cut_short_by(stop), pytest.raises(Stopping):
            await asyncio.wait_for(
                transport.request("GET", "https://crm.test/x", operation="x"), 30
            )
    assert replies.seen == 1


async def test_outside_a_stoppable_run_the_wait_is_slept() -> None:
    replies = Replies("0.05")
    async with httpx.AsyncClient(transport=httpx.MockTransport(replies)) as client:
        transport = HttpTransport(client, system="crm")
        response = await transport.request("GET", "https://crm.test/x", operation="x")
    assert response.status_code == 200
    assert replies.seen == 2


def test_an_inner_scope_keeps_the_outer_stop_at_once_and_the_work_in_flight() -> None:
    """The engine opens a scope of its own around each pass of ``tandem run``, inside the
    CLI's: a second signal must still end graces there, and find the jobs handed over."""
    outer_stop, now, held = asyncio.Event(), asyncio.Event(), InFlight()
    inner_stop = asyncio.Event()
    with waits_cut_short_by(outer_stop, now, held), waits_cut_short_by(inner_stop):
        assert in_flight() is held
        assert not stopping_now()
        now.set()
        assert stopping_now()
        inner_stop.set()
        assert stopping()
    assert in_flight() is None and not stopping_now()
