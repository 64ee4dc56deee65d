"""Awkward values written through Collections and Bulk against the HTTPS sandbox.

Both write paths must leave the org holding the same thing for the same op: a value that
clears a field in one must clear it in the other, and a text value must arrive as it was.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_sf_sandbox import settings_for

from tandem.connectors.base import EntityBinding, WriteGuard, WriteOp
from tandem.connectors.salesforce import SalesforceConnector, bulk, bulk_csv
from tandem.errors import Fatal
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

pytestmark = pytest.mark.slow

ACCOUNT = EntityBinding(
    name="customer",
    source="Account",
    key="Id",
    fields=("Name", "Description", "BillingCity"),
    external_id="ERP_Id__c",
)

TEXTS = {
    "newline": "a\nb\r\nc",
    "quotes": "he said \"hi\", 'yo'",
    "comma": "a,b,c",
    "spaces": "  padded  ",
    "tab": "a\tb",
    "scripts": "😀 日本語 עברית",
    "control": "a\x01\x1fb",
    "backslash": "a\\b\\n",
    "na": "#N/A",  # what a spreadsheet leaves in a cell: text, not a null
}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(tmp_path / "crm") as handle:
        yield handle


@pytest.fixture(params=["collections", "bulk"])
async def connector(
    sandbox: SandboxHandle, request: pytest.FixtureRequest
) -> AsyncIterator[SalesforceConnector]:
    threshold = 1 if request.param == "bulk" else 2000
    c = SalesforceConnector(settings_for(sandbox, bulk_threshold=threshold))
    await c.open()
    yield c
    await c.close()


async def stored(c: SalesforceConnector) -> dict[str, dict[str, Any]]:
    return {
        str(ch.fields["ERP_Id__c"]): dict(ch.fields)
        async for batch in c.read_all(ACCOUNT, 500)
        for ch in batch
    }


def seeded(names: list[str]) -> list[WriteOp]:
    values = {"Description": "OLD", "BillingCity": "OLD"}
    return [WriteOp("upsert", n, {"Name": n, **values}, match=n) for n in names]


async def test_an_empty_string_clears_the_field_on_both_paths(
    connector: SalesforceConnector,
) -> None:
    # Collections stores "" as null; a Bulk CSV cell left empty leaves the field alone, so
    # the same op must not be written as an empty cell there.
    names = ["x1", "x2"]
    assert all(o.ok for o in await connector.write_batch(ACCOUNT, seeded(names)))
    ops = [WriteOp("upsert", n, {"Description": "", "BillingCity": None}, match=n) for n in names]
    assert all(o.ok for o in await connector.write_batch(ACCOUNT, ops))
    after = await stored(connector)
    assert [(after[n]["Description"], after[n]["BillingCity"]) for n in names] == [
        (None, None),
        (None, None),
    ]


async def test_awkward_text_arrives_as_it_was_on_both_paths(
    connector: SalesforceConnector,
) -> None:
    names = list(TEXTS)
    assert all(o.ok for o in await connector.write_batch(ACCOUNT, seeded(names)))
    ops = [
        WriteOp("upsert", n, {"Description": text, "BillingCity": text}, match=n)
        for n, text in TEXTS.items()
    ]
    outcomes = await connector.write_batch(ACCOUNT, ops)
    assert [o.ref for o in outcomes if not o.ok] == []
    after = await stored(connector)
    assert {n: after[n]["Description"] for n in names} == TEXTS
    assert {n: after[n]["BillingCity"] for n in names} == TEXTS


async def test_a_value_too_long_is_refused_alone_naming_record_field_and_value(
    connector: SalesforceConnector,
) -> None:
    ops = seeded(["ok1", "long", "ok2"])
    ops[1] = WriteOp("upsert", "long", {"Name": "L", "BillingCity": "y" * 41}, match="long")
    outcomes = await connector.write_batch(ACCOUNT, ops)
    assert [o.ok for o in outcomes] == [True, False, True]
    error = outcomes[1].error
    assert error is not None
    assert (error.record, error.field, error.value) == ("long", "BillingCity", "y" * 41)
    assert set(await stored(connector)) == {"ok1", "ok2"}


async def test_a_field_removed_after_describe_stops_the_write_naming_the_field(
    sandbox: SandboxHandle, connector: SalesforceConnector
) -> None:
    # The flow's mapping is wrong now, not the record's data: no record is dead-lettered for
    # it (every later one would be too); the write stops, naming the field, and the next
    # describe is made anew.
    await connector.describe(ACCOUNT)
    account = sandbox.state.org.schema.objects["Account"]
    del account.fields["BillingCity"]
    account.reindex()
    ops = [
        WriteOp("upsert", "a", {"Name": "A", "BillingCity": "x"}, match="A"),
        WriteOp("upsert", "b", {"Name": "B", "BillingCity": "y"}, match="B"),
    ]
    with pytest.raises(Fatal, match="BillingCity"):
        await connector.write_batch(ACCOUNT, ops)
    before = connector.calls_made
    await connector.describe(ACCOUNT)
    assert connector.calls_made == before + 1  # described anew, not taken from this run's cache


async def test_a_field_removed_after_describe_stops_a_guarded_update_too(
    sandbox: SandboxHandle, connector: SalesforceConnector
) -> None:
    written = await connector.write_batch(ACCOUNT, seeded(["g"]))
    key = written[0].key
    assert key is not None
    now = (await connector.read_records(ACCOUNT, [key]))[key]
    account = sandbox.state.org.schema.objects["Account"]
    del account.fields["BillingCity"]
    account.reindex()
    guard = WriteGuard(
        {"BillingCity": "OLD"}, now.modified_at, now.modified_at + timedelta(seconds=2)
    )
    op = WriteOp("update", "g", {"BillingCity": "new"}, key=key, guard=guard)
    with pytest.raises(Fatal, match="BillingCity"):
        await connector.write_batch(ACCOUNT, [op])


async def test_a_bulk_group_past_the_upload_limit_goes_in_several_jobs(
    sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Salesforce takes at most 150 MB of job data once base64-encoded, and says to upload
    # no more than 100 MB: 10,000 accounts with long descriptions pass it. (The limit is
    # made small here; the sandbox does not refuse a large upload.)
    limit = 40_000
    monkeypatch.setattr(bulk_csv, "UPLOAD_BYTES", limit)
    uploads: list[int] = []
    chunks = bulk.csv_chunks

    def measured(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Iterator[bytes]:
        uploads.append(0)
        for chunk in chunks(columns, rows):
            uploads[-1] += len(chunk)
            yield chunk

    monkeypatch.setattr(bulk, "csv_chunks", measured)
    c = SalesforceConnector(settings_for(sandbox, bulk_threshold=10))
    await c.open()
    text = 'a long "description", 日本語\n' * 8
    ops = [
        WriteOp("upsert", f"r{i}", {"Name": f"N{i}", "Description": f"{text}{i}"}, match=f"K{i}")
        for i in range(300)
    ]
    outcomes = await c.write_batch(ACCOUNT, ops)
    assert [o.ref for o in outcomes] == [op.ref for op in ops]
    assert all(o.ok and o.created for o in outcomes)
    assert len(uploads) > 1 and max(uploads) <= limit
    after = await stored(c)
    assert {n: after[n]["Description"] for n in after} == {
        f"K{i}": f"{text}{i}" for i in range(300)
    }
    await c.close()
