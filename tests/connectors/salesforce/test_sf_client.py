"""Vendor calls: collections chunking, per-record retries, error mapping, limit headers, paging."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from sf_stubs import API, FakeSleep, StrictStub, body_json, json_response, query_params, sf_error

from tandem.connectors.salesforce.client import SalesforceClient
from tandem.errors import Fatal, Retriable

UPSERT = f"{API}/composite/sobjects/Account/ERP_Id__c"


def ok_results(request: httpx.Request) -> httpx.Response:
    records = body_json(request)["records"]
    return json_response(
        [
            {"id": f"001{r['ERP_Id__c']:0>15}", "success": True, "errors": [], "created": True}
            for r in records
        ]
    )


async def test_upsert_250_records_takes_two_calls(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    stub.token()
    stub.on("PATCH", UPSERT, ok_results, times=2)
    client = make_client()
    records = [{"ERP_Id__c": str(i), "Name": f"N{i}"} for i in range(250)]
    results = await client.upsert("Account", "ERP_Id__c", records)
    assert len(results) == 250 and all(r.success and r.created for r in results)
    bodies = [body_json(r) for r in stub.calls("PATCH", UPSERT)]
    assert [len(b["records"]) for b in bodies] == [200, 50]
    assert all(b["allOrNone"] is False for b in bodies)
    assert bodies[0]["records"][0] == {
        "attributes": {"type": "Account"},
        "ERP_Id__c": "0",
        "Name": "N0",
    }
    assert stub.requests[1].headers["Sforce-Call-Options"] == "client=tandem"
    assert client.governor.calls_made == 2
    assert (client.governor.used, client.governor.max) == (10, 1000)
    await client.aclose()


async def test_locked_records_are_retried_alone(
    stub: StrictStub, make_client: Callable[..., SalesforceClient], fake_sleep: FakeSleep
) -> None:
    lock = {
        "success": False,
        "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}],
    }
    dup = {
        "success": False,
        "errors": [{"statusCode": "DUPLICATE_VALUE", "message": "dup", "fields": ["Name"]}],
    }

    def first(request: httpx.Request) -> httpx.Response:
        return json_response(
            [{"id": "001A", "success": True, "errors": [], "created": False}, lock, dup]
        )

    def second(request: httpx.Request) -> httpx.Response:
        assert [r["ERP_Id__c"] for r in body_json(request)["records"]] == ["b"]
        return json_response([{"id": "001B", "success": True, "errors": [], "created": True}])

    stub.token()
    stub.on("PATCH", UPSERT, first)
    stub.on("PATCH", UPSERT, second)
    client = make_client()
    results = await client.upsert(
        "Account", "ERP_Id__c", [{"ERP_Id__c": k} for k in ("a", "b", "c")]
    )
    assert [(r.id, r.success, r.created) for r in results] == [
        ("001A", True, False),
        ("001B", True, True),
        (None, False, False),
    ]
    assert results[2].errors[0].code == "DUPLICATE_VALUE"
    assert results[2].errors[0].fields == ("Name",)
    assert fake_sleep.delays == [0.5]
    stub.assert_used()
    await client.aclose()


async def test_records_locked_for_good_raise_retriable(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    lock = {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "x"}]}
    stub.token()
    stub.on("PATCH", UPSERT, json_response([lock]), times=None)
    client = make_client(max_retries=2)
    with pytest.raises(Retriable, match="UNABLE_TO_LOCK_ROW"):
        await client.upsert("Account", "ERP_Id__c", [{"ERP_Id__c": "a"}])
    assert len(stub.calls("PATCH", UPSERT)) == 3
    await client.aclose()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("TotalRequests Limit exceeded.", Fatal),
        ("ConcurrentPerOrgLongTxn Limit exceeded.", Retriable),
    ],
)
async def test_request_limit_daily_is_fatal_concurrent_is_retried(
    stub: StrictStub,
    make_client: Callable[..., SalesforceClient],
    message: str,
    error: type[Exception],
) -> None:
    stub.token()
    stub.on("GET", f"{API}/query", sf_error(403, "REQUEST_LIMIT_EXCEEDED", message), times=None)
    client = make_client(max_retries=1)
    with pytest.raises(error, match="REQUEST_LIMIT_EXCEEDED"):
        await client.query("SELECT Id FROM Account")
    expected_calls = 1 if error is Fatal else 2
    assert len(stub.calls("GET", f"{API}/query")) == expected_calls
    await client.aclose()


async def test_lock_and_5xx_at_request_level_are_retried(
    stub: StrictStub, make_client: Callable[..., SalesforceClient], fake_sleep: FakeSleep
) -> None:
    stub.token()
    stub.on(
        "GET",
        f"{API}/query",
        [
            sf_error(400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access"),
            httpx.Response(503, headers={"Retry-After": "3"}),
            json_response({"totalSize": 0, "done": True, "records": []}),
        ],
    )
    client = make_client()
    page = await client.query("SELECT Id FROM Account")
    assert page.records == []
    assert fake_sleep.delays == [0.5, 3.0]
    await client.aclose()


async def test_malformed_query_is_fatal_and_named(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    stub.token()
    stub.on("GET", f"{API}/query", sf_error(400, "MALFORMED_QUERY", "unexpected token: FORM"))
    client = make_client()
    with pytest.raises(Fatal) as info:
        await client.query("SELECT Id FORM Account")
    assert info.value.code == "MALFORMED_QUERY"
    assert "unexpected token: FORM" in str(info.value)
    await client.aclose()


async def test_query_pages_follow_next_records_url(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    next_url = f"{API}/query/01gXX-2000"
    stub.token()
    stub.on(
        "GET",
        f"{API}/queryAll",
        json_response(
            {
                "totalSize": 3,
                "done": False,
                "nextRecordsUrl": next_url,
                "records": [{"attributes": {"type": "Account"}, "Id": "1"}],
            }
        ),
    )
    stub.on(
        "GET",
        next_url,
        json_response({"totalSize": 3, "done": True, "records": [{"Id": "2"}, {"Id": "3"}]}),
    )
    client = make_client()
    pages = [p async for p in client.query_pages("SELECT Id FROM Account", include_deleted=True)]
    assert [[r["Id"] for r in p.records] for p in pages] == [["1"], ["2", "3"]]
    first = stub.calls("GET", f"{API}/queryAll")[0]
    assert query_params(first)["q"] == "SELECT Id FROM Account"
    assert first.headers["Sforce-Query-Options"] == "batchSize=2000"
    stub.assert_used()
    await client.aclose()


async def test_delete_and_get_deleted(
    stub: StrictStub, make_client: Callable[..., SalesforceClient]
) -> None:
    stub.token()
    stub.on(
        "DELETE",
        f"{API}/composite/sobjects",
        json_response([{"id": "001A", "success": True, "errors": []}]),
    )
    stub.on(
        "GET",
        f"{API}/sobjects/Account/deleted/",
        json_response(
            {
                "deletedRecords": [{"id": "001Z", "deletedDate": "2024-05-01T10:00:05.000+0000"}],
                "earliestDateAvailable": "2024-04-20T00:00:00.000+0000",
                "latestDateCovered": "2024-05-01T10:01:00.000+0000",
            }
        ),
    )
    client = make_client()
    results = await client.delete(["001A"])
    assert results[0].success
    params = query_params(stub.requests[1])
    assert params == {"ids": "001A", "allOrNone": "false"}
    start = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    deleted = await client.get_deleted("Account", start, datetime(2024, 5, 1, 10, 1, tzinfo=UTC))
    assert deleted.records == [("001Z", datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC))]
    assert query_params(stub.requests[2]) == {
        "start": "2024-05-01T10:00:00+00:00",
        "end": "2024-05-01T10:01:00+00:00",
    }
    await client.aclose()
