"""``prune_capture_days``: ``tandem run`` prunes the ERP's change log after its first pass
(then daily), behind every entity's cursor, and the sync goes on as before.

The demo flow between a SQLite ERP and the sandbox; the entries the first sync read are aged
by rewriting their stamps, as the passing of days would.
"""

from __future__ import annotations

import asyncio

from tandem_env import Env

from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine


def _entries(env: Env) -> list[tuple[object, ...]]:
    return [tuple(r) for r in env.erp_rows("SELECT table_name, row_key FROM tandem_changelog")]


async def test_run_prunes_what_every_entity_has_read_after_its_first_pass(env: Env) -> None:
    env.fix_the_bad_nip()
    flow = env.flow(**{"name: demo": "name: demo\nprune_capture_days: 0"})
    assert flow.prune_capture_days == 0
    async with running_engine(flow) as engine:
        await engine.sync()
    env.erp("UPDATE tandem_changelog SET changed_at = '2020-01-01 00:00:00.000000'")
    env.erp("UPDATE customers SET phone = '+48 600 300 400' WHERE id = 5")  # not read yet
    stop = asyncio.Event()
    passes: list[PassReport] = []

    def on_pass(report: PassReport) -> None:
        passes.append(report)
        stop.set()

    async with running_engine(flow) as engine:
        await asyncio.wait_for(engine.run(stop, on_pass=on_pass), timeout=60)
    assert len(passes) == 1
    assert _entries(env) == [("customers", "5")]  # read in the pass, newer than its cursor
    (account,) = env.crm_rows("SELECT Phone FROM Account WHERE ERP_Id__c = '5'")
    assert account["Phone"] == "+48 600 300 400"


async def test_without_the_setting_run_leaves_the_log_alone(env: Env) -> None:
    env.fix_the_bad_nip()
    flow = env.flow()
    assert flow.prune_capture_days is None
    async with running_engine(flow) as engine:
        await engine.sync()
    env.erp("UPDATE tandem_changelog SET changed_at = '2020-01-01 00:00:00.000000'")
    before = len(_entries(env))
    stop = asyncio.Event()
    async with running_engine(flow) as engine:
        await asyncio.wait_for(engine.run(stop, on_pass=lambda report: stop.set()), timeout=60)
    assert len(_entries(env)) == before
