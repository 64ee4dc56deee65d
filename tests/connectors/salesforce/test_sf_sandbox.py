"""The connector against the real HTTPS sandbox (the sandbox is only the server here).

The connector shares no code with the sandbox; these tests are where the two, each written from
the reference, must agree on the wire.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox_faults import answers, injected

from tandem.connectors.base import Change, Cursor, EntityBinding, WriteOp
from tandem.connectors.salesforce import SalesforceConnector
from tandem.errors import Retriable
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

pytestmark = pytest.mark.slow

ACCOUNT = EntityBinding(
    name="customer",
    source="Account",
    key="Id",
    fields=("Name", "Industry", "AnnualRevenue", "NumberOfEmployees"),
    external_id="ERP_Id__c",
)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(tmp_path / "crm") as handle:
        yield handle


def settings_for(handle: Any, flow: str = "password", **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "auth_flow": flow,
        "login_url": handle.base_url,
        "client_id": handle.client_id,
        "ca_file": str(handle.ca_file),
        "backoff_base": 0.01,
        "backoff_cap": 0.2,
        "bulk_poll_interval": 0.05,
        **extra,
    }
    if flow == "password":
        settings |= {
            "username": handle.username,
            "password": handle.password + handle.security_token,
            "client_secret": handle.client_secret,
        }
    elif flow == "client_credentials":
        settings |= {"client_secret": handle.client_secret}
    else:
        settings |= {"username": handle.username, "private_key_file": str(handle.private_key_file)}
    return settings


@pytest.fixture
async def connector(sandbox: Any) -> AsyncIterator[SalesforceConnector]:
    c = SalesforceConnector(settings_for(sandbox))
    await c.open()
    yield c
    await c.close()


def upserts(n: int, prefix: str = "E", start: int = 0) -> list[WriteOp]:
    return [
        WriteOp(
            "upsert",
            f"erp-{i}",
            {"Name": f"Customer {i}", "Industry": "Banking", "NumberOfEmployees": i},
            match=f"{prefix}-{i}",
        )
        for i in range(start, start + n)
    ]


async def everything(c: SalesforceConnector, since: Cursor | None = None) -> list[Change]:
    return [ch async for batch in c.read_changes(ACCOUNT, since, 500) for ch in batch]


@pytest.mark.parametrize("flow", ["password", "client_credentials", "jwt"])
async def test_auth_flows_and_describe(sandbox: Any, flow: str) -> None:
    c = SalesforceConnector(settings_for(sandbox, flow))
    await c.open()
    schema = await c.describe(ACCOUNT)
    assert schema.fields["ERP_Id__c"].external_id
    assert schema.fields["Name"].type == "string"
    assert schema.fields["Industry"].picklist and "Banking" in schema.fields["Industry"].picklist
    assert schema.fields["AnnualRevenue"].type == "currency"
    assert c.client.governor.max is not None
    await c.close()


async def test_upsert_250_in_two_calls_then_again_not_created(
    connector: SalesforceConnector,
) -> None:
    await connector.describe(ACCOUNT)
    before = connector.calls_made
    first = await connector.write_batch(ACCOUNT, upserts(250))
    assert connector.calls_made - before == 2
    assert all(o.ok and o.created for o in first)
    second = await connector.write_batch(ACCOUNT, upserts(250))
    assert all(o.ok and not o.created for o in second)
    assert [o.key for o in first] == [o.key for o in second]


async def test_read_changes_by_cursor_with_ties_and_deletes(
    connector: SalesforceConnector,
) -> None:
    outcomes = await connector.write_batch(ACCOUNT, upserts(30))
    changes = await everything(connector)
    assert len(changes) == 30
    cursors = [c.cursor for c in changes]
    assert cursors == sorted(cursors)
    # a cursor in the middle of a tie: exactly the rest comes back
    middle = changes[14].cursor
    rest = await everything(connector, middle)
    assert [c.key for c in rest] == [c.key for c in changes[15:]]
    # a delete arrives as a deleted change after the cursor
    last = changes[-1].cursor
    victim = outcomes[3].key
    assert victim is not None
    deleted = await connector.write_batch(ACCOUNT, [WriteOp("delete", "erp-3", key=victim)])
    assert deleted[0].ok
    after = await everything(connector, last)
    assert [(c.key, c.deleted) for c in after] == [(victim, True)]
    # deleting again is idempotent
    again = await connector.write_batch(ACCOUNT, [WriteOp("delete", "erp-3", key=victim)])
    assert again[0].ok
    live = [c async for b in connector.read_all(ACCOUNT, 100) for c in b]
    assert victim not in {c.key for c in live} and len(live) == 29


async def test_read_all_via_bulk_query_above_threshold(sandbox: Any) -> None:
    c = SalesforceConnector(settings_for(sandbox, bulk_threshold=200, query_batch_size=200))
    await c.open()
    await c.write_batch(ACCOUNT, upserts(180))
    await c.write_batch(ACCOUNT, upserts(170, start=180))
    jobs: list[str] = []
    bulk_query = c.bulk.query

    def spy(soql: str, *, include_deleted: bool = False) -> AsyncIterator[list[dict[str, str]]]:
        jobs.append(soql)
        return bulk_query(soql, include_deleted=include_deleted)

    c.bulk.query = spy  # type: ignore[method-assign]
    live = [ch async for b in c.read_all(ACCOUNT, 100) for ch in b]
    assert len(jobs) == 1 and jobs[0].endswith("ORDER BY Id")
    assert len(live) == 350
    assert [ch.key for ch in live] == sorted(ch.key for ch in live)
    assert Counter(ch.fields["ERP_Id__c"] for ch in live).most_common(1)[0][1] == 1
    await c.close()


async def test_write_batch_via_bulk_ingest_above_threshold(sandbox: Any) -> None:
    c = SalesforceConnector(settings_for(sandbox, bulk_threshold=100))
    await c.open()
    ops = upserts(300)
    ops[9] = WriteOp("upsert", "erp-noname", {"Name": None}, match="E-9")
    before = c.calls_made
    outcomes = await c.write_batch(ACCOUNT, ops)
    calls = c.calls_made - before
    assert [o.ref for o in outcomes] == [o.ref for o in ops]
    bad = {o.ref: o for o in outcomes if not o.ok}
    assert set(bad) == {"erp-noname"}
    error = bad["erp-noname"].error
    assert error is not None and error.field == "Name"
    assert all(o.ok and o.created and o.key for o in outcomes if o.ref != "erp-noname")
    assert calls < 300 / 200 * 2 + 10  # a job, not per-record calls
    again = await c.write_batch(ACCOUNT, upserts(150))  # E-9 was refused the first time
    assert [o.created for o in again if o.ok] == [o.ref == "erp-9" for o in again]
    await c.close()


async def test_with_faults_every_record_arrives_exactly_once(sandbox: Any) -> None:
    # 4000 records through sObject Collections (Bulk jobs are spared lock faults), at rates
    # where every kind of fault is met: with seed 7 and the calls made one after another the
    # faults are the same on every run, and other seeds meet each kind too.
    sandbox.set_faults(
        {
            "seed": 7,
            "error_rates": {"500": 0.05, "503": 0.05},
            "retry_after_s": 0,
            "lock_rate": 0.05,
            "expire_every": 9,
        }
    )
    c = SalesforceConnector(settings_for(sandbox, max_retries=8, bulk_threshold=10_000))
    await c.open()
    ops = upserts(4000, prefix="F")
    pending = ops
    for _ in range(5):  # what the pipeline does with a Retriable batch: send it again
        try:
            outcomes = await c.write_batch(ACCOUNT, pending)
        except Retriable:
            await asyncio.sleep(0)
            continue
        pending = [op for op, o in zip(pending, outcomes, strict=True) if not o.ok]
        if not pending:
            break
    assert not pending
    faults = injected(sandbox)  # read before clear_faults() resets the counters
    sandbox.clear_faults()
    assert faults["http"] >= 1 and faults["lock"] >= 1 and faults["expire"] >= 1, faults
    statuses = answers(sandbox)
    assert statuses[500] + statuses[503] >= 1 and statuses[401] >= 1, statuses
    rows: Counter[str] = Counter()
    async for page in c.client.query_pages("SELECT ERP_Id__c FROM Account"):
        rows.update(str(r["ERP_Id__c"]) for r in page.records)
    assert set(rows) == {op.match for op in ops}
    assert set(rows.values()) == {1}
    per_thousand = c.calls_made / 4
    assert per_thousand < 20, per_thousand
    await c.close()
