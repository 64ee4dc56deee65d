"""The first stop signal ends a pass at the next batch: no new batch is handed over.

An agent asked to stop in the middle of a long initial load (here 60 customers in batches of
10) lets the batch it handed over settle and reads no further; the next start carries the
rest, and nothing is written twice.
"""

from __future__ import annotations

import asyncio

from tandem_env import Env

from tandem.pipeline.events import BatchDone
from tandem.pipeline.reconcile import reconcile
from tandem.pipeline.runtime import running_engine

SMALL_BATCHES = {"  batch_size: 200\n": "  batch_size: 10\n  initial_batch_size: 10\n"}


async def test_a_stop_during_a_load_hands_over_no_new_batch(env: Env) -> None:
    env.fix_the_bad_nip()
    for n in range(21, 61):  # the demo's 20 customers and 40 more
        env.erp(
            "INSERT INTO customers (id, number, name, nip) VALUES (:id, :number, :name, NULL)",
            id=n,
            number=f"C-{n:05d}",
            name=f"Klient {n}",
        )
    flow = env.flow(**SMALL_BATCHES)
    stop = asyncio.Event()
    done: list[BatchDone] = []

    async def on_batch(event: BatchDone) -> None:
        if event.entity == "customer" and event.source == "erp":
            done.append(event)
            stop.set()  # as a SIGTERM would, while the load is under way

    async with running_engine(flow) as engine:
        engine.bus.subscribe(on_batch, BatchDone)
        await asyncio.wait_for(engine.run(stop), timeout=120)
    first = env.crm_rows("SELECT ERP_Id__c FROM Account")
    assert 0 < len(first) < 60
    assert len(done) < 6

    async with running_engine(flow) as engine:
        await engine.sync()
        settled = await engine.sync()
        report = await reconcile(engine, entities=["customer"])
    ids = sorted(int(row["ERP_Id__c"]) for row in env.crm_rows("SELECT ERP_Id__c FROM Account"))
    assert ids == list(range(1, 61))
    assert settled.writes == 0
    assert report.entities["customer"].differences == 0
