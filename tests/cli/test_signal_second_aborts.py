"""A second SIGTERM aborts the Bulk jobs handed over and not collected (one PATCH each) before
the agent's task is cancelled, so no job of a stopped agent lands later over newer values.

Driven in-process: the CLI's signal handler on the test's event loop, real signals sent to this
process, a real job in the in-process HTTPS sandbox whose worker is held back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "connectors" / "salesforce"))
from test_sf_sandbox import settings_for

from tandem.cli.flow import _stop_on_signals
from tandem.connectors.http import InFlight, waits_cut_short_by
from tandem.connectors.salesforce import SalesforceConnector
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

pytestmark = pytest.mark.slow

HANG = 60.0
"""Seconds a test waits for what must end far sooner (a hang detector, not a timing assert)."""


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxHandle]:
    """The sandbox, its Bulk worker held back: a job stays in the org's queue."""
    release = threading.Event()
    with running_sandbox(tmp_path / "crm") as handle:
        manager = type(handle.state.bulk)
        process = manager._process

        def held(self: Any, job: Any) -> None:
            release.wait(HANG)
            process(self, job)

        monkeypatch.setattr(manager, "_process", held)
        yield handle
        release.set()


async def test_the_second_signal_aborts_the_jobs_in_flight_then_cancels(
    sandbox: SandboxHandle,
) -> None:
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
                await c.bulk.submit(
                    "Account",
                    "upsert",
                    ["ERP_Id__c", "Name"],
                    rows,
                    key_column="ERP_Id__c",
                    external_id="ERP_Id__c",
                )
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
