"""`tandem plan` plans the records queued for another try, as the next sync will, and leaves
them queued."""

from __future__ import annotations

from tandem_env import Env

from tandem.demo.erp import BAD_NIP_CUSTOMER
from tandem.pipeline.runtime import running_engine


async def test_a_dry_run_plans_the_queued_retries_and_leaves_them_queued(env: Env) -> None:
    # No overlap window: the dry run's reads of the change logs do not come back to record 13
    # (it was refused, so nothing was written back to it); only the queue brings it.
    flow = env.flow(**{"overlap_seconds: 2": "overlap_seconds: 0"})
    async with running_engine(flow) as engine:
        await engine.sync()
        store = engine.store
        key = str(BAD_NIP_CUSTOMER)
        assert [d.record_key for d in store.dead_letters(flow=flow.name, entity="customer")] == [
            key
        ]
        # What `tandem deadletters retry` does: queue the record again, nothing else changed.
        store.enqueue(
            flow=flow.name, entity="customer", side="erp", record_keys=[key], reason="retry"
        )

        planned = await engine.sync(dry_run=True)
        counts = planned.counts["customer"]["erp->crm"]
        assert counts["dead_lettered"] == 1
        assert [item.record_key for item in store.due_work(flow.name)] == [key]

        done = await engine.sync()
        assert done.counts["customer"]["erp->crm"]["dead_lettered"] == 1
        assert store.due_work(flow.name) == []
