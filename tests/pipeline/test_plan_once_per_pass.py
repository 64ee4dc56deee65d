"""`tandem plan` lists each record once, as `tandem sync` writes it once, when one pass reads a
record more than once: the change log holds several entries of the row, the overlap window
re-reads the earlier ones, and each entry comes back joined to the row as it is now."""

from __future__ import annotations

from collections import Counter

from tandem_env import Env

from tandem.pipeline.runtime import running_engine

# Contacts read one change-log entry per batch (re-read ones ride along, two at most), and an
# overlap window that certainly reaches back over every entry the first sync read.
SMALL_BATCHES = {
    "    delete: {policy: delete}\n": (
        "    delete: {policy: delete}\n    batch_size: 1\n    overlap_seconds: 86400\n"
    )
}


async def test_a_dry_run_lists_a_delete_read_in_several_batches_once(env: Env) -> None:
    async with running_engine(env.flow()) as engine:
        await engine.sync()
    # contact 6: its seed entry, its write-back (crm_id), an edit and the delete; contact 9:
    # an edit of a field the CRM owns (reverted); each entry is read in a batch of its own.
    env.erp("UPDATE contacts SET title = 'Buyer' WHERE id = 6")
    env.erp("UPDATE contacts SET title = 'Buyer' WHERE id = 9")
    env.erp("DELETE FROM contacts WHERE id = 6")
    entries = env.erp_rows(
        "SELECT COUNT(*) FROM tandem_changelog WHERE table_name = 'contacts' AND row_key = '6'"
    )
    assert entries[0][0] >= 3

    async with running_engine(env.flow(**SMALL_BATCHES)) as engine:
        planned = await engine.sync(dry_run=True, entities=["contact"])
        done = await engine.sync(entities=["contact"])

    listed = Counter((p.source_key, p.target, p.action) for p in planned.planned)
    assert listed == {("6", "crm", "delete"): 1, ("9", "erp", "update"): 1}
    plan_counts = planned.counts["contact"]["erp->crm"]
    sync_counts = done.counts["contact"]["erp->crm"]
    assert (plan_counts["deleted"], plan_counts["reverted"]) == (1, 1)
    assert (sync_counts["deleted"], sync_counts["reverted"]) == (1, 1)
    assert env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '6'") == []


async def test_a_dry_run_lists_a_retried_record_the_capture_reads_too_once(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("UPDATE contacts SET title = 'Buyer' WHERE id = 9")
        engine.store.enqueue(
            flow=flow.name, entity="contact", side="erp", record_keys=["9"], reason="retry"
        )
        planned = await engine.sync(dry_run=True, entities=["contact"])
    listed = [(p.source_key, p.action) for p in planned.planned]
    assert listed == [("9", "update")]
    assert planned.counts["contact"]["erp->crm"]["reverted"] == 1
