"""Invariants of read_changes: cursor order, strictly after ``since``, each delete once."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sf_stubs import (
    API,
    CLIENT_SECRET,
    PASSWORD,
    TOKEN,
    FakeSleep,
    MaxRng,
    StrictStub,
    json_response,
)

from tandem.connectors.base import Cursor, EntityBinding
from tandem.connectors.salesforce import SalesforceConnector, SalesforceSettings
from tandem.errors import Retriable

BASE = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
BINDING = EntityBinding("customer", "Account", "Id", ("Name",), "ERP_Id__c")
DESCRIBE = {
    "name": "Account",
    "fields": [
        {"name": "Id", "type": "id"},
        {"name": "Name", "type": "string"},
        {"name": "ERP_Id__c", "type": "string", "externalId": True},
        {"name": "SystemModstamp", "type": "datetime"},
        {"name": "IsDeleted", "type": "boolean"},
    ],
}


def stamp(seconds: int) -> str:
    return (BASE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def make_settings() -> SalesforceSettings:
    return SalesforceSettings(
        auth_flow="password",
        login_url="https://login.example.com",
        client_id="ck",
        client_secret=CLIENT_SECRET,
        username="u@x",
        password=PASSWORD,
        query_batch_size=200,
    )


rows_strategy = st.lists(
    st.tuples(st.integers(0, 20), st.integers(0, 60), st.booleans()),
    max_size=40,
    unique_by=lambda t: t[1],
)
purged_strategy = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 60)), max_size=10)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_strategy, purged=purged_strategy, since_s=st.integers(0, 10))
def test_read_changes_is_ordered_after_since_and_reports_each_delete_once(
    rows: list[tuple[int, int, bool]], purged: list[tuple[int, int]], since_s: int
) -> None:
    since = Cursor(BASE + timedelta(seconds=since_s), f"001{30:015d}")
    # What the server holds after `since`, in (SystemModstamp, Id) order.
    visible = sorted(
        (s, f"001{i:015d}", deleted)
        for s, i, deleted in rows
        if Cursor(BASE + timedelta(seconds=s), f"001{i:015d}") > since
    )
    stub = StrictStub()
    stub.token()
    stub.on("GET", f"{API}/sobjects/Account/describe", json_response(DESCRIBE))
    stub.on(
        "GET",
        f"{API}/sobjects/Account/deleted/",
        json_response(
            {
                "deletedRecords": [
                    {"id": f"001{i:015d}", "deletedDate": stamp(s)} for s, i in purged
                ],
                "earliestDateAvailable": stamp(-3600),
                "latestDateCovered": stamp(120),
            }
        ),
    )
    records: list[dict[str, Any]] = [
        {"Id": key, "SystemModstamp": stamp(s), "IsDeleted": d, "Name": "n", "ERP_Id__c": "e"}
        for s, key, d in visible
    ]
    stub.on(
        "GET",
        f"{API}/queryAll",
        json_response({"totalSize": len(records), "done": True, "records": records}),
    )

    async def run() -> list[Any]:
        connector = SalesforceConnector(
            make_settings(),
            http_transport=httpx.MockTransport(stub),
            sleep=FakeSleep(),
            rng=MaxRng(),  # type: ignore[arg-type]
            clock=lambda: BASE + timedelta(minutes=5),
        )
        try:
            return [c async for b in connector.read_changes(BINDING, since, 7) for c in b]
        finally:
            await connector.close()

    changes = asyncio.run(run())
    cursors = [c.cursor for c in changes]
    assert cursors == sorted(cursors)
    assert all(c > since for c in cursors)
    deleted = [c.key for c in changes if c.deleted]
    assert len(deleted) == len(set(deleted))
    live = [c.key for c in changes if not c.deleted]
    assert live == [key for _, key, d in visible if not d]
    expected_deleted = {key for _, key, d in visible if d} | {
        f"001{i:015d}"
        for s, i in purged
        if Cursor(BASE + timedelta(seconds=s), f"001{i:015d}") > since
    }
    assert set(deleted) == expected_deleted


async def test_secrets_stay_out_of_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"proxy error: token {TOKEN} password {PASSWORD} secret {CLIENT_SECRET}"
    stub = StrictStub()
    stub.token()
    stub.on("GET", f"{API}/sobjects/Account/describe", httpx.Response(502, text=echo), times=None)
    connector = SalesforceConnector(
        make_settings().model_copy(update={"max_retries": 2}),
        http_transport=httpx.MockTransport(stub),
        sleep=FakeSleep(),
        rng=MaxRng(),  # type: ignore[arg-type]
    )
    await connector.open()
    with pytest.raises(Retriable) as info:
        await connector.client.describe("Account")
    await connector.close()
    texts = [str(info.value), repr(connector.settings)] + [r.getMessage() for r in caplog.records]
    assert len(caplog.records) >= 2
    for text in texts:
        for secret in (TOKEN, PASSWORD, CLIENT_SECRET):
            assert secret not in text
