"""A record changed and changed back within one pass is carried: only a record's latest
version read in the pass may be left out as "tried already", never an earlier one.

Changes are made between the batches of a pass (one change-log entry a batch), and the cursor
is then moved past them by a later edit of another record, so a dropped read is not seen again
by the next pass either."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from tandem_env import Env

from tandem.connectors.base import Change, Cursor, EntityBinding
from tandem.demo.erp import BAD_NIP_CUSTOMER
from tandem.pipeline.runtime import running_engine

RECORD = "3"
OTHER = "5"
SMALL = {
    "    delete: {policy: archive, erp_field: active, value: false}\n": (
        "    delete: {policy: archive, erp_field: active, value: false}\n"
        "    batch_size: 1\n    overlap_seconds: 1\n"
    )
}
Step = Callable[[list[str]], Any]


def _between_batches(engine: Any, steps: list[Step]) -> None:
    """Run ``steps`` one by one after the customer batches that make each one due."""
    erp = engine.systems.erp
    read = erp.read_changes

    async def wrapped(
        binding: EntityBinding, since: Cursor | None, size: int
    ) -> AsyncIterator[list[Change]]:
        async for batch in read(binding, since, size):
            yield batch
            if binding.source == "customers" and steps:
                done = await steps[0]([c.key for c in batch])
                if done:
                    steps.pop(0)

    erp.read_changes = wrapped


def _crm(env: Env) -> Any:
    return env.crm_rows(f"SELECT Phone, Tax_Id__c FROM Account WHERE ERP_Id__c = '{RECORD}'")[0]


def _then_move_the_cursor_on(env: Env) -> Step:
    """The last step: after the record's batch, an edit of another record moves the cursor on."""

    async def later(keys: list[str]) -> bool:
        if RECORD not in keys:
            return False
        await asyncio.sleep(1.5)  # past the overlap window: the next pass starts after these
        env.erp(f"UPDATE customers SET name = name || ' y' WHERE id = {OTHER}")
        return True

    return later


async def test_a_queued_record_changed_and_changed_back_reaches_the_crm(env: Env) -> None:
    async with running_engine(env.flow(**SMALL)) as engine:
        await engine.sync(entities=["customer"])
        first = env.erp_rows(f"SELECT phone FROM customers WHERE id = {RECORD}")[0][0]
        await asyncio.sleep(1.5)
        engine.store.enqueue(
            flow=engine.flow.name,
            entity="customer",
            side="erp",
            record_keys=[RECORD],
            reason="retry",
        )  # the work queue tries its version with `first`
        env.erp(f"UPDATE customers SET name = name || ' x' WHERE id = {OTHER}")

        async def edit(keys: list[str]) -> bool:
            if OTHER not in keys:
                return False
            env.erp(f"UPDATE customers SET phone = '+48 111 111 111' WHERE id = {RECORD}")
            return True

        async def back(keys: list[str]) -> bool:
            if RECORD not in keys:
                return False
            env.erp(f"UPDATE customers SET phone = :p WHERE id = {RECORD}", p=first)
            return True

        _between_batches(engine, [edit, back, _then_move_the_cursor_on(env)])
        await engine.sync(entities=["customer"])
        await engine.sync(entities=["customer"])
    assert _crm(env)["Phone"] == first


async def test_a_refused_version_written_again_after_a_good_one_is_refused_again(
    env: Env,
) -> None:
    async with running_engine(env.flow(**SMALL)) as engine:
        await engine.sync(entities=["customer"])
        good = env.erp_rows(f"SELECT nip FROM customers WHERE id = {RECORD}")[0][0]
        bad = env.erp_rows(f"SELECT nip FROM customers WHERE id = {BAD_NIP_CUSTOMER}")[0][0]
        await asyncio.sleep(1.5)
        set_bad = f"UPDATE customers SET nip = :n, phone = '+48 222 222 222' WHERE id = {RECORD}"
        env.erp(set_bad, n=bad)

        async def fix(keys: list[str]) -> bool:
            if RECORD not in keys:
                return False
            env.erp(
                f"UPDATE customers SET nip = :n, phone = '+48 333 333 333' WHERE id = {RECORD}",
                n=good,
            )
            return True

        async def break_again(keys: list[str]) -> bool:
            if RECORD not in keys:
                return False
            env.erp(set_bad, n=bad)
            return True

        _between_batches(engine, [fix, break_again, _then_move_the_cursor_on(env)])
        await engine.sync(entities=["customer"])
        await engine.sync(entities=["customer"])
        letters = engine.store.dead_letters(flow=engine.flow.name, entity="customer")
    # the bad version waits as an open letter again; the CRM keeps the good one
    assert [d.record_key for d in letters if d.record_key == RECORD] == [RECORD]
    assert _crm(env)["Phone"] == "+48 333 333 333"
