"""A Bulk ingest job running when the agent is told to stop (``BulkApi.collect`` against the
in-process HTTPS sandbox).

After the first signal a running job is given ``stop_grace_seconds``: polled, and collected if
the org completes it meanwhile (its records are not sent again). A stop at once (a second
signal) ends the grace and aborts every job handed over and not yet collected, one PATCH each.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sf_bulk_jobs import submit_upsert
from test_sf_sandbox import settings_for

from tandem.cli.flow import _stop_on_signals
from tandem.connectors.http import InFlight, waits_cut_short_by
from tandem.connectors.salesforce import SalesforceConnector
from tandem.errors import Stopping
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

pytestmark = pytest.mark.slow

HANG = 60.0
"""Seconds a test waits for what must end far sooner (a hang detector, not a timing assert)."""


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(tmp_path / "crm") as handle:
        yield handle


@pytest.fixture
def held_worker(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> Iterator[threading.Event]:
    """The sandbox's Bulk worker starts a job only once the event is set."""
    manager = type(sandbox.state.bulk)
    process = manager._process
    release = threading.Event()

    def held(self: Any, job: Any) -> None:
        release.wait(HANG)
        process(self, job)

    monkeypatch.setattr(manager, "_process", held)
    yield release
    release.set()


def _rows(n: int, prefix: str) -> list[list[str]]:
    return [[f"{prefix}-{i}", f"{prefix} {i}"] for i in range(n)]


def _states(sandbox: SandboxHandle) -> list[str]:
    return [str(job["state"]) for job in sandbox.state.bulk.list_jobs("ingest")]


def _job_calls(connector: SalesforceConnector) -> list[str]:
    """``METHOD status`` of each call on a job resource itself (polls and aborts)."""
    seen: list[str] = []

    async def hook(response: httpx.Response) -> None:
        parts = response.request.url.path.rstrip("/").split("/")
        if len(parts) > 2 and parts[-3:-1] == ["jobs", "ingest"]:
            seen.append(f"{response.request.method} {response.status_code}")

    connector.client.http.event_hooks["response"].append(hook)
    return seen


async def test_a_job_completing_within_the_grace_is_collected_not_aborted(
    sandbox: SandboxHandle, held_worker: threading.Event
) -> None:
    settings = settings_for(sandbox, bulk_poll_interval=0.05, stop_grace_seconds=HANG)
    c = SalesforceConnector(settings)
    calls = _job_calls(c)
    await c.open()
    stop = asyncio.Event()

    async def release_after_first_look(response: httpx.Response) -> None:
        if stop.is_set() and response.request.method == "GET":
            held_worker.set()  # the org finishes the job only after the stop

    c.client.http.event_hooks["response"].append(release_after_first_look)
    with waits_cut_short_by(stop):
        job = await submit_upsert(c.bulk, _rows(50, "G"))
        stop.set()
        results = await asyncio.wait_for(c.bulk.collect(job), timeout=HANG)
    assert _states(sandbox) == ["JobComplete"]
    assert "PATCH 200" not in calls[1:]  # only the close, no abort
    assert all(r is not None and r.success and r.created for r in results), results
    page = sandbox.state.org.query(
        "SELECT Id FROM Account WHERE ERP_Id__c LIKE 'G-%'", include_deleted=False
    )
    assert page.total_size == 50
    await c.close()


async def test_a_stop_at_once_ends_the_grace_and_aborts_the_job(
    sandbox: SandboxHandle, held_worker: threading.Event
) -> None:
    settings = settings_for(sandbox, bulk_poll_interval=0.05, stop_grace_seconds=HANG)
    c = SalesforceConnector(settings)
    await c.open()
    stop, now, held = asyncio.Event(), asyncio.Event(), InFlight()
    looks = 0

    async def second_signal_after_a_look(response: httpx.Response) -> None:
        nonlocal looks
        if stop.is_set() and response.request.method == "GET":
            looks += 1
            if looks == 2:  # the grace is under way
                now.set()
                await held.cancel_all(HANG)

    c.client.http.event_hooks["response"].append(second_signal_after_a_look)
    calls = _job_calls(c)
    with waits_cut_short_by(stop, now, held):
        job = await submit_upsert(c.bulk, _rows(50, "N"))
        stop.set()
        with pytest.raises(Stopping, match=job.job_id) as stopped:
            await asyncio.wait_for(c.bulk.collect(job), timeout=HANG)
    assert "aborted on the stop at once" in str(stopped.value)
    assert _states(sandbox) == ["Aborted"]
    assert calls.count("PATCH 200") == 2  # the close and one abort
    await c.close()


async def test_a_stop_at_once_aborts_every_job_handed_over_and_not_collected(
    sandbox: SandboxHandle, held_worker: threading.Event
) -> None:
    c = SalesforceConnector(settings_for(sandbox, bulk_poll_interval=0.05))
    await c.open()
    stop, now, held = asyncio.Event(), asyncio.Event(), InFlight()
    calls = _job_calls(c)
    with waits_cut_short_by(stop, now, held):
        for prefix in ("A", "B"):
            await submit_upsert(c.bulk, _rows(20, prefix))
        stop.set()
        now.set()
        await held.cancel_all(HANG)  # what the second signal does before the exit
    assert _states(sandbox) == ["Aborted", "Aborted"]
    assert calls.count("PATCH 200") == 4  # two closes, two aborts
    assert len(held) == 0
    await c.close()


async def test_the_second_signal_aborts_the_jobs_in_flight_then_cancels(
    sandbox: SandboxHandle, held_worker: threading.Event
) -> None:
    """The CLI's signal handler on the test's event loop, real SIGTERMs sent to this process:
    the second aborts the jobs handed over and not collected, then cancels the agent's task."""
    c = SalesforceConnector(settings_for(sandbox))
    await c.open()
    signals: list[signal.Signals] = []
    cancelled = asyncio.Event()

    async def agent() -> None:
        stop, now, held = asyncio.Event(), asyncio.Event(), InFlight()
        _stop_on_signals(stop, signals, "stopping", now, held)
        with waits_cut_short_by(stop, now, held):
            for prefix in ("A", "B"):
                rows = [[f"{prefix}-{i}", f"{prefix} {i}"] for i in range(20)]
                await submit_upsert(c.bulk, rows)
            os.kill(os.getpid(), signal.SIGTERM)
            await stop.wait()
            os.kill(os.getpid(), signal.SIGTERM)
            try:
                await asyncio.sleep(HANG)  # handed over, not collected: other work
            except asyncio.CancelledError:
                cancelled.set()
                raise

    task = asyncio.ensure_future(agent())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=HANG)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
    assert signals == [signal.SIGTERM, signal.SIGTERM]
    assert cancelled.is_set()
    states = [str(job["state"]) for job in sandbox.state.bulk.list_jobs("ingest")]
    assert states == ["Aborted", "Aborted"]
    await c.close()
