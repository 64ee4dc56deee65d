"""The Salesforce connector tells a merge's loser from a plain delete (``MasterRecordId``),
on the objects that have the field, against the HTTPS sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tandem.connectors.base import Change, Cursor, EntityBinding, MergeLookup, WriteOp
from tandem.connectors.salesforce import SalesforceConnector
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

ACCOUNT = EntityBinding(
    name="customer", source="Account", key="Id", fields=("Name",), external_id="ERP_Id__c"
)
PRODUCT = EntityBinding(
    name="product", source="Product2", key="Id", fields=("Name",), external_id="ERP_Id__c"
)
START = datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)


@pytest.fixture
def now() -> list[datetime]:
    return [START]


@pytest.fixture
def sandbox(tmp_path: Path, now: list[datetime]) -> Iterator[SandboxHandle]:
    with running_sandbox(tmp_path / "crm", clock=lambda: now[0]) as handle:
        yield handle


def _settings(handle: SandboxHandle) -> dict[str, object]:
    return {
        "auth_flow": "password",
        "login_url": handle.base_url,
        "client_id": handle.client_id,
        "client_secret": handle.client_secret,
        "username": handle.username,
        "password": handle.password + handle.security_token,
        "ca_file": str(handle.ca_file),
        "backoff_base": 0.01,
        "backoff_cap": 0.2,
    }


async def _changes(connector: SalesforceConnector, binding: EntityBinding) -> dict[str, Change]:
    found: dict[str, Change] = {}
    async for batch in connector.read_changes(binding, Cursor(START - timedelta(minutes=1)), 50):
        for change in batch:
            found[change.key] = change
    return found


async def _create(connector: SalesforceConnector, binding: EntityBinding, *names: str) -> list[str]:
    ops = [WriteOp("upsert", n, {"Name": n}, match=n) for n in names]
    keys = [o.key for o in await connector.write_batch(binding, ops)]
    assert all(keys)
    return [str(k) for k in keys]


async def test_a_merge_loser_is_read_as_merged_and_a_delete_as_a_delete(
    sandbox: SandboxHandle, now: list[datetime]
) -> None:
    connector = SalesforceConnector(_settings(sandbox), clock=lambda: now[0])
    assert isinstance(connector, MergeLookup)
    await connector.open()
    try:
        master, loser, gone, purged = await _create(connector, ACCOUNT, "M", "L", "D", "P")
        (product,) = await _create(connector, PRODUCT, "Widget")
        now[0] += timedelta(seconds=10)
        assert sandbox.org.merge("Account", master, [loser, purged]).success
        sandbox.org.delete("Account", gone)
        sandbox.org.delete("Product2", product)
        # a loser purged from the recycle bin is only in getDeleted: a delete, nothing says more
        assert sandbox.org.empty_recycle_bin([purged])[0].success
        now[0] += timedelta(minutes=2)  # getDeleted lists whole minutes up to the current one
        accounts = await _changes(connector, ACCOUNT)
        products = await _changes(connector, PRODUCT)
        # a delete known otherwise (getDeleted, a record not found) is looked up on demand
        looked_up = await connector.merged_into(ACCOUNT, [loser, gone, purged, master, "N/A"])
        not_mergeable = await connector.merged_into(PRODUCT, [product])
    finally:
        await connector.close()

    assert accounts[loser].deleted and accounts[loser].merged_into == master
    assert accounts[gone].deleted and accounts[gone].merged_into is None
    assert accounts[purged].deleted and accounts[purged].merged_into is None
    assert not accounts[master].deleted and accounts[master].merged_into is None
    assert accounts[master].fields == {"Name": "M", "ERP_Id__c": "M"}
    assert looked_up == {loser: master}
    assert not_mergeable == {}
    # an object without MasterRecordId is read as before
    assert products[product].deleted and products[product].merged_into is None


async def test_a_large_read_through_bulk_tells_the_merge_too(
    sandbox: SandboxHandle, now: list[datetime]
) -> None:
    settings = {**_settings(sandbox), "bulk_threshold": 1, "bulk_poll_interval": 0.05}
    connector = SalesforceConnector(settings, clock=lambda: now[0])
    await connector.open()
    try:
        master, first, second, gone = await _create(connector, ACCOUNT, "M", "A", "B", "D")
        now[0] += timedelta(seconds=10)
        assert sandbox.org.merge("Account", master, [first, second]).success
        sandbox.org.delete("Account", gone)
        accounts = await _changes(connector, ACCOUNT)
    finally:
        await connector.close()
    assert {k: c.merged_into for k, c in accounts.items() if c.deleted} == {
        first: master,
        second: master,
        gone: None,
    }
    # the rest of the read went through a Bulk query job
    assert [j["operation"] for j in sandbox.state.bulk.list_jobs("query")] == ["queryAll"]
