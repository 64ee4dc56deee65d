"""A record queued for another try (`deadletters retry`) that the capture of the same pass
reads too is tried once in that pass: the work queue's try and the captured change are one."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from tandem_env import Env

from tandem.connectors.base import Change, EntityBinding
from tandem.demo.erp import BAD_NIP_CUSTOMER, nip
from tandem.pipeline.runtime import running_engine
from tandem.store import StateStore

KEY = str(BAD_NIP_CUSTOMER)


def _attempts(store: StateStore, flow: str) -> list[tuple[str, int, str]]:
    return [
        (d.record_key, d.attempts, d.status)
        for d in store.dead_letters(flow=flow, entity="customer", status=None)
    ]


async def test_a_retried_record_changed_again_is_tried_once(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        store = engine.store
        assert _attempts(store, flow.name) == [(KEY, 1, "open")]
        # changed again (its NIP still wrong), and queued by `deadletters retry`
        env.erp(f"UPDATE customers SET phone = '+48 500 500 500' WHERE id = {KEY}")
        store.enqueue(
            flow=flow.name, entity="customer", side="erp", record_keys=[KEY], reason="retry"
        )
        planned = await engine.sync(dry_run=True, entities=["customer"])
        done = await engine.sync(entities=["customer"])
        assert planned.counts["customer"]["erp->crm"]["dead_lettered"] == 1
        assert done.counts["customer"]["erp->crm"]["dead_lettered"] == 1
        assert _attempts(store, flow.name) == [(KEY, 2, "open")]
        assert store.due_work(flow.name) == []


async def test_a_retried_record_put_right_is_created_once(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        store = engine.store
        env.erp(f"UPDATE customers SET nip = '{nip(random.Random(7))}' WHERE id = {KEY}")
        store.enqueue(
            flow=flow.name, entity="customer", side="erp", record_keys=[KEY], reason="retry"
        )
        done = await engine.sync(entities=["customer"])
        again = await engine.sync(entities=["customer"])
    counts = done.counts["customer"]["erp->crm"]
    assert (counts["created"], counts["dead_lettered"]) == (1, 0)
    assert again.writes == 0
    assert env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{KEY}'") != []
    assert _attempts(store, flow.name) == [(KEY, 1, "resolved")]


async def test_a_record_changed_after_the_queue_read_it_is_tried_in_its_new_version(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the version the work queue tried is left out of the capture: a newer one is not
    (it changed between the two reads), so no change is lost."""
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        store = engine.store
        store.enqueue(
            flow=flow.name, entity="customer", side="erp", record_keys=[KEY], reason="retry"
        )
        erp = engine.systems.erp
        read_records = erp.read_records

        async def then_changed(binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
            found = await read_records(binding, keys)
            env.erp(f"UPDATE customers SET phone = '+48 700 700 700' WHERE id = {KEY}")
            return found

        monkeypatch.setattr(erp, "read_records", then_changed)
        done = await engine.sync(entities=["customer"])
    assert done.counts["customer"]["erp->crm"]["dead_lettered"] == 2
    assert _attempts(store, flow.name) == [(KEY, 3, "open")]


SMALL_CUSTOMER_BATCHES = {
    "    delete: {policy: archive, erp_field: active, value: false}\n": (
        "    delete: {policy: archive, erp_field: active, value: false}\n"
        "    batch_size: 1\n    overlap_seconds: 86400\n"
    )
}


async def test_a_refused_record_read_in_several_batches_of_a_pass_is_tried_once(
    env: Env,
) -> None:
    """Its change-log entries (the seed, two edits) come back one batch each, every one joined
    to the row as it is now: one version, refused once, its letter's attempts counted once."""
    async with running_engine(env.flow(**SMALL_CUSTOMER_BATCHES)) as engine:
        store = engine.store
        flow = engine.flow.name
        await engine.sync(entities=["customer"])
        assert _attempts(store, flow) == [(KEY, 1, "open")]
        env.erp(f"UPDATE customers SET phone = '+48 500 500 501' WHERE id = {KEY}")
        env.erp(f"UPDATE customers SET phone = '+48 500 500 502' WHERE id = {KEY}")
        entries = env.erp_rows(
            "SELECT COUNT(*) FROM tandem_changelog"
            f" WHERE table_name = 'customers' AND row_key = '{KEY}'"
        )
        assert entries[0][0] >= 3
        done = await engine.sync(entities=["customer"])
        assert done.counts["customer"]["erp->crm"]["dead_lettered"] == 1
        assert _attempts(store, flow) == [(KEY, 2, "open")]
