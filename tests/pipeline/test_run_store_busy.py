"""``Engine.run`` while another process holds the SQLite state store's write lock past the
store's wait (shortened to 1 s here, 30 s by default): the pass is held back like an outage,
and the edit made meanwhile is delivered once the lock is gone, without a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlite_lock import write_locked
from tandem_env import Env

from tandem.errors import StoreBusy
from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine
from tandem.store import engine as store_engine

DEADLINE = 60.0


async def until(what: str, condition: Callable[[], bool], running: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if running.done():
            running.result()  # the run's own error, if it ended with one
            raise AssertionError(f"the run ended before {what}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def crm_phone(env: Env, erp_id: int) -> object:
    rows = env.crm_rows(f"SELECT Phone FROM Account WHERE ERP_Id__c = '{erp_id}'")
    return rows[0]["Phone"] if rows else None


async def test_a_run_rides_out_a_state_store_locked_by_another_process(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_engine, "LOCK_WAIT_SECONDS", 1)
    flow = env.flow()
    passes: list[PassReport] = []
    errors: list[Exception] = []
    stop = asyncio.Event()
    async with running_engine(flow) as agent:
        running = asyncio.create_task(
            agent.run(stop, on_pass=passes.append, on_error=errors.append)
        )
        await until("the initial load", lambda: bool(passes), running)
        with write_locked(env.folder / "state.db"):
            env.erp("UPDATE customers SET phone = '+48 555 000 111' WHERE id = 2")
            await until(
                "a pass held back by the lock",
                lambda: any(isinstance(e, StoreBusy) for e in errors),
                running,
            )
        await until("the edit in the CRM", lambda: crm_phone(env, 2) == "+48 555 000 111", running)
        # and committed: a later pass finds nothing left to write
        done = len(passes)
        await until("one more pass", lambda: len(passes) > done + 1, running)
        assert passes[-1].writes == 0
        stop.set()
        await running
    assert len(env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'")) == 1
