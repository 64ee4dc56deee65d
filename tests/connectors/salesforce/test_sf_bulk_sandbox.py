"""Bulk ingest against the HTTPS sandbox: what each job costs in API calls.

The sandbox runs in this process, so a test can see when its Bulk worker has finished a job
(or hold the worker back) and make the timing it depends on certain instead of likely.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_sf_sandbox import ACCOUNT, settings_for, upserts

from tandem.connectors.base import WriteOp
from tandem.connectors.salesforce import SalesforceConnector
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

pytestmark = pytest.mark.slow

FINAL = ("JobComplete", "Failed", "Aborted")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(tmp_path / "crm") as handle:
        yield handle


def until_jobs_end(handle: SandboxHandle) -> Callable[[float], Awaitable[None]]:
    """A sleep after which every ingest job the sandbox holds has ended (a long enough wait)."""

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)
        for _ in range(1000):
            if all(j["state"] in FINAL for j in handle.state.bulk.list_jobs("ingest")):
                return
            await asyncio.sleep(0.01)

    return sleep


class Calls:
    """The API requests a connector sends (method, path after the version, status)."""

    def __init__(self, connector: SalesforceConnector) -> None:
        self.seen: list[tuple[str, str, int]] = []
        connector.client.http.event_hooks["response"].append(self._hook)

    async def _hook(self, response: httpx.Response) -> None:
        path = response.request.url.path
        if "/services/data/" in path:
            tail = path.split("/services/data/", 1)[1].split("/", 1)[1]
            self.seen.append((response.request.method, tail, response.status_code))

    def kinds(self) -> Counter[str]:
        """Counts by ``METHOD resource`` with job ids left out."""
        out: Counter[str] = Counter()
        for method, tail, status in self.seen:
            parts = tail.strip("/").split("/")
            if parts[:2] == ["jobs", "ingest"] and len(parts) > 2:
                parts[2] = "{id}"
            out[f"{method} {'/'.join(parts)} {status}"] += 1
        return out


async def test_open_makes_no_api_call(sandbox: SandboxHandle) -> None:
    c = SalesforceConnector(settings_for(sandbox))
    before = sandbox.state.usage.used
    await c.open()
    assert c.calls_made == 0
    assert sandbox.state.usage.used == before
    assert c.client.governor.budget is None  # no figures yet: calls go through
    await c.describe(ACCOUNT)
    assert c.calls_made == 1
    assert c.client.governor.max == sandbox.state.usage.maximum  # from the first answer
    assert c.client.governor.used == sandbox.state.usage.used
    await c.close()


async def test_a_job_after_the_first_costs_four_calls_and_a_new_process_told_the_rate_too(
    sandbox: SandboxHandle,
) -> None:
    settings = settings_for(sandbox, bulk_threshold=100, bulk_poll_interval=0.05)
    c = SalesforceConnector(settings, sleep=until_jobs_end(sandbox))
    calls = Calls(c)
    await c.open()
    await c.describe(ACCOUNT)
    first = await c.write_batch(ACCOUNT, upserts(300))
    assert all(o.ok and o.created and o.key for o in first)
    assert calls.kinds() == {
        "GET sobjects/Account/describe 200": 1,
        "POST jobs/ingest 200": 1,
        "PUT jobs/ingest/{id}/batches 201": 1,
        "PATCH jobs/ingest/{id} 200": 1,
        "GET jobs/ingest/{id} 200": 1,  # the rate is not known yet: the job is polled
        "GET jobs/ingest/{id}/successfulResults 200": 1,
    }
    assert c.bulk_rate is not None
    calls.seen.clear()
    before = c.calls_made
    second = await c.write_batch(ACCOUNT, upserts(300, start=300))
    assert c.calls_made - before == 4
    assert calls.kinds() == {
        "POST jobs/ingest 200": 1,
        "PUT jobs/ingest/{id}/batches 201": 1,
        "PATCH jobs/ingest/{id} 200": 1,
        "GET jobs/ingest/{id}/successfulResults 200": 1,  # the poll and the results
    }
    assert all(o.ok and o.created and o.key for o in second)
    assert len({o.key for o in first + second}) == 600
    learned = c.learned()
    await c.close()

    # The next process is told the rate: its first job costs four calls as well.
    again = SalesforceConnector(settings, sleep=until_jobs_end(sandbox))
    again.recall(learned)
    await again.open()
    await again.describe(ACCOUNT)
    before = again.calls_made
    third = await again.write_batch(ACCOUNT, upserts(300))  # the first 300 again: updates
    assert again.calls_made - before == 4
    assert [o.key for o in third] == [o.key for o in first]
    assert not any(o.created for o in third)
    await again.close()


async def test_results_asked_too_early_still_give_every_rows_result(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tandem")
    # The sandbox's Bulk worker starts a job only once the results were asked for and refused.
    manager = type(sandbox.state.bulk)
    process = manager._process
    release = threading.Event()

    def held(self: Any, job: Any) -> None:
        release.wait(10)
        process(self, job)

    monkeypatch.setattr(manager, "_process", held)
    c = SalesforceConnector(settings_for(sandbox, bulk_threshold=100, bulk_poll_interval=0.05))
    c.bulk_rate = 1e-6  # told the org is fast: the results are asked for after 0.05 s
    calls = Calls(c)

    async def released(response: httpx.Response) -> None:
        if response.status_code == 412:
            release.set()

    c.client.http.event_hooks["response"].append(released)
    await c.open()
    ops = upserts(300, prefix="T")
    # A parent that does not exist: only the org can tell, so the job fails this row.
    ops[7] = WriteOp("upsert", "erp-orphan", {"Name": "O", "Parent.ERP_Id__c": "NONE"}, match="T-7")
    outcomes = await c.write_batch(ACCOUNT, ops)
    assert [o.ref for o in outcomes] == [o.ref for o in ops]
    assert [o.ref for o in outcomes if not o.ok] == ["erp-orphan"]
    assert all(o.created and o.key for o in outcomes if o.ok)
    refused = next(o for o in outcomes if not o.ok).error
    assert refused is not None and "NONE not found" in str(refused)
    kinds = calls.kinds()
    assert kinds["GET jobs/ingest/{id}/successfulResults 412"] == 1  # asked once, not retried
    assert kinds["GET jobs/ingest/{id}/successfulResults 200"] == 1
    assert kinds["GET jobs/ingest/{id}/failedResults 200"] == 1
    assert kinds["GET jobs/ingest/{id} 200"] >= 1  # polled after the refusal
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert c.bulk_rate is not None and c.bulk_rate > 1e-6  # the job's real pace was learned
    await c.close()


async def test_a_submitted_bulk_batch_is_with_the_org_before_its_outcomes_are_asked_for(
    sandbox: SandboxHandle,
) -> None:
    settings = settings_for(sandbox, bulk_threshold=100, bulk_poll_interval=0.05)
    c = SalesforceConnector(settings, sleep=until_jobs_end(sandbox))
    calls = Calls(c)
    await c.open()
    await c.describe(ACCOUNT)
    small = await c.submit_batch(ACCOUNT, upserts(5))  # Collections: written at once
    assert calls.kinds()["PATCH composite/sobjects/Account/ERP_Id__c 200"] == 1
    collect = await c.submit_batch(ACCOUNT, upserts(300, start=5))
    jobs = sandbox.state.bulk.list_jobs("ingest")
    assert len(jobs) == 1 and jobs[0]["state"] != "Open"  # uploaded and closed: processing
    assert not any(tail.endswith("successfulResults/") for _, tail, _ in calls.seen)
    outcomes = await collect()
    assert len(outcomes) == 300 and all(o.ok and o.created and o.key for o in outcomes)
    assert [o.ref for o in outcomes] == [op.ref for op in upserts(300, start=5)]
    assert len(await small()) == 5
    await c.close()
