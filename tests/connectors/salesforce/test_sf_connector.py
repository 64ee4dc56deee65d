"""The connector contract over stubbed REST and Bulk calls."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sf_stubs import API, StrictStub, body_json, json_response, query_params

from tandem.connectors.base import (
    Change,
    Cursor,
    EntityBinding,
    Learner,
    SchemaCache,
    WriteOp,
)
from tandem.connectors.salesforce import SalesforceConnector
from tandem.connectors.salesforce.describe import to_schema
from tandem.errors import ConfigError, Fatal

ACCOUNT_FIELDS: list[dict[str, Any]] = [
    {"name": "Id", "type": "id", "nillable": False, "createable": False, "updateable": False},
    {"name": "Name", "type": "string", "length": 20, "nillable": False},
    {"name": "Email__c", "type": "email", "length": 80},
    {
        "name": "Industry",
        "type": "picklist",
        "restrictedPicklist": True,
        "picklistValues": [
            {"value": "Banking", "active": True},
            {"value": "Energy", "active": True},
            {"value": "Old", "active": False},
        ],
    },
    {"name": "AnnualRevenue", "type": "currency"},
    {"name": "Rating__c", "type": "double"},
    {"name": "Founded__c", "type": "date"},
    {"name": "Employees", "type": "int"},
    {"name": "ERP_Id__c", "type": "string", "length": 40, "externalId": True, "unique": True},
    {"name": "SystemModstamp", "type": "datetime", "createable": False, "updateable": False},
    {"name": "IsDeleted", "type": "boolean", "nillable": False, "createable": False},
    {"name": "OwnerId", "type": "reference", "referenceTo": ["User"], "defaultedOnCreate": True},
]

BINDING = EntityBinding(
    name="customer",
    source="Account",
    key="Id",
    fields=("Name", "Email__c", "Industry", "AnnualRevenue", "Rating__c", "Founded__c"),
    external_id="ERP_Id__c",
)


def describe_reply() -> httpx.Response:
    return json_response({"name": "Account", "fields": ACCOUNT_FIELDS})


def row(
    i: int, stamp: str = "2024-05-01T10:00:00.000+0000", deleted: bool = False
) -> dict[str, Any]:
    return {
        "attributes": {"type": "Account"},
        "Id": f"001{i:015d}",
        "SystemModstamp": stamp,
        "IsDeleted": deleted,
        "Name": f"Acme {i}",
        "Email__c": None,
        "Industry": "Banking",
        "AnnualRevenue": 1000.10,
        "Rating__c": 4.5,
        "Founded__c": "1999-12-31",
        "ERP_Id__c": f"E-{i}",
    }


def page(records: list[dict[str, Any]]) -> httpx.Response:
    return json_response({"totalSize": len(records), "done": True, "records": records})


@pytest.fixture
def opened(stub: StrictStub) -> StrictStub:
    stub.token()
    stub.on("GET", f"{API}/sobjects/Account/describe", describe_reply())
    return stub


def test_describe_maps_types_and_flags() -> None:
    schema = to_schema({"name": "Account", "fields": ACCOUNT_FIELDS})
    f = schema.fields
    assert f["Name"].type == "string" and f["Name"].length == 20
    assert f["Name"].required_on_create and not f["OwnerId"].required_on_create
    assert f["Industry"].picklist == ("Banking", "Energy")
    assert f["Industry"].restricted_picklist
    assert f["AnnualRevenue"].type == "currency" and f["Rating__c"].type == "number"
    assert f["Employees"].type == "integer"
    assert f["ERP_Id__c"].external_id and f["ERP_Id__c"].unique
    assert f["OwnerId"].reference_to == ("User",)
    assert not f["IsDeleted"].required_on_create


async def test_open_makes_no_call_and_describe_is_cached(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    connector = make_connector()
    await connector.open()
    assert connector.calls_made == 0
    assert not opened.calls("GET", f"{API}/limits/")
    assert connector.client.governor.budget is None  # no figures yet: calls go through
    first = await connector.describe(BINDING)
    second = await connector.describe(BINDING)
    assert first is second
    assert len(opened.calls("GET", f"{API}/sobjects/Account/describe")) == 1
    # Forgotten (the engine's describe again during a run), the next describe asks the org.
    opened.on("GET", f"{API}/sobjects/Account/describe", describe_reply())
    connector.forget_schema(BINDING)
    assert await connector.describe(BINDING) is not first
    assert len(opened.calls("GET", f"{API}/sobjects/Account/describe")) == 2
    # The first answer's Sforce-Limit-Info taught the governor the org's usage.
    assert (connector.client.governor.used, connector.client.governor.max) == (10, 1000)
    await connector.close()
    await connector.close()


async def test_a_primed_schema_spares_the_describe(
    stub: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    stub.token()
    connector = make_connector()
    schema = to_schema({"name": "Account", "fields": ACCOUNT_FIELDS})
    connector.prime_schema(BINDING, schema)
    assert await connector.describe(BINDING) is schema
    assert connector.calls_made == 0 and stub.requests == []
    bad = EntityBinding("customer", "Account", "Id", ("Name--",), "ERP_Id__c")
    with pytest.raises(ConfigError):
        connector.prime_schema(bad, schema)
    await connector.close()


async def test_schema_drift_reports_changes(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    connector = make_connector()
    previous = await connector.describe(BINDING)
    changed = [dict(f) for f in ACCOUNT_FIELDS if f["name"] != "Email__c"]
    changed[1]["length"] = 40
    changed.append({"name": "Segment__c", "type": "picklist", "picklistValues": []})
    opened.on(
        "GET",
        f"{API}/sobjects/Account/describe",
        json_response({"name": "Account", "fields": changed}),
    )
    notes = await connector.schema_drift(BINDING, previous)
    assert notes[0] == "Account.Email__c: used by the flow but no longer exists"
    assert "Account.Name: length changed from 20 to 40" in notes
    assert "Account.Segment__c: added (picklist)" in notes
    await connector.close()


async def test_read_changes_by_cursor_with_ties_and_deletes(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    t = "2024-05-01T10:00:00.000+0000"
    opened.on(
        "GET",
        f"{API}/sobjects/Account/deleted/",
        json_response(
            {
                "deletedRecords": [
                    {"id": "001PURGED000000001", "deletedDate": "2024-05-01T10:00:00.500+0000"},
                    {"id": f"001{3:015d}", "deletedDate": "2024-05-01T10:00:01.000+0000"},
                ],
                "earliestDateAvailable": "2024-04-20T00:00:00.000+0000",
                "latestDateCovered": "2024-05-01T10:05:00.000+0000",
            }
        ),
    )
    opened.on(
        "GET",
        f"{API}/queryAll",
        page(
            [
                row(1, t),
                row(2, t),
                row(3, "2024-05-01T10:00:01.000+0000", deleted=True),
                row(4, "2024-05-01T10:00:02.000+0000"),
            ]
        ),
    )
    connector = make_connector(query_batch_size=200)
    connector.clock = lambda: datetime(2024, 5, 1, 10, 5, tzinfo=UTC)
    since = Cursor(datetime(2024, 5, 1, 10, 0, tzinfo=UTC), f"001{0:015d}")
    batches = [b async for b in connector.read_changes(BINDING, since, batch_size=2)]
    changes = [c for b in batches for c in b]
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [(c.key, c.deleted) for c in changes] == [
        (f"001{1:015d}", False),
        (f"001{2:015d}", False),
        ("001PURGED000000001", True),  # purged from the recycle bin: only getDeleted knows
        (f"001{3:015d}", True),  # reported once though both sources list it
        (f"001{4:015d}", False),
    ]
    assert [c.cursor for c in changes] == sorted(c.cursor for c in changes)
    first = changes[0]
    assert first.modified_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert first.fields["AnnualRevenue"] == Decimal("1000.10")
    assert isinstance(first.fields["Rating__c"], float)
    assert first.fields["Founded__c"] == date(1999, 12, 31)
    assert first.fields["ERP_Id__c"] == "E-1"
    assert changes[3].fields == {}
    soql = query_params(opened.calls("GET", f"{API}/queryAll")[0])["q"]
    assert soql == (
        "SELECT Id, SystemModstamp, IsDeleted, Name, Email__c, Industry, AnnualRevenue, "
        "Rating__c, Founded__c, ERP_Id__c FROM Account WHERE (SystemModstamp > "
        "2024-05-01T10:00:00.000Z OR (SystemModstamp = 2024-05-01T10:00:00.000Z AND "
        "Id > '001000000000000000')) ORDER BY SystemModstamp, Id LIMIT 200"
    )
    deleted_params = query_params(opened.calls("GET", f"{API}/sobjects/Account/deleted/")[0])
    assert deleted_params["start"] == "2024-05-01T10:00:00+00:00"
    await connector.close()


async def test_read_changes_pages_by_limit_rounds(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    stamps = [f"2024-05-01T10:00:0{i}.000+0000" for i in range(5)]
    opened.on("GET", f"{API}/queryAll", page([row(i, stamps[i // 50]) for i in range(200)]))
    opened.on("GET", f"{API}/queryAll", page([row(500, stamps[4])]))
    connector = make_connector(query_batch_size=200, bulk_threshold=100000)
    changes = [c async for b in connector.read_changes(BINDING, None, 500) for c in b]
    assert len(changes) == 201
    second = query_params(opened.calls("GET", f"{API}/queryAll")[1])["q"]
    assert f"Id > '001{199:015d}'" in second
    await connector.close()


def csv_page(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


async def test_read_all_switches_to_bulk_query_past_threshold(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    rest_rows = [{k: v for k, v in row(i).items() if k != "IsDeleted"} for i in range(200)]
    opened.on("GET", f"{API}/query", page(rest_rows))
    opened.on("POST", f"{API}/jobs/query", json_response({"id": "750Q", "state": "UploadComplete"}))
    opened.on(
        "GET",
        f"{API}/jobs/query/750Q",
        [
            json_response({"id": "750Q", "state": "InProgress"}),
            json_response({"id": "750Q", "state": "JobComplete"}),
        ],
    )
    bulk_row = {
        "Id": f"001{200:015d}",
        "SystemModstamp": "2024-05-01T10:00:00.000Z",
        "Name": "Bulk",
        "Email__c": "",
        "Industry": "Energy",
        "AnnualRevenue": "5.25",
        "Rating__c": "1.5",
        "Founded__c": "2001-01-01",
        "ERP_Id__c": "E-200",
    }
    opened.on(
        "GET",
        f"{API}/jobs/query/750Q/results",
        [
            httpx.Response(
                200,
                text=csv_page([bulk_row]),
                headers={"Sforce-Locator": "MTAwMDA", "Sforce-NumberOfRecords": "1"},
            ),
            httpx.Response(
                200,
                text=csv_page([{**bulk_row, "Id": f"001{201:015d}", "Name": "Last"}]),
                headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
            ),
        ],
    )
    connector = make_connector(query_batch_size=200, bulk_threshold=150, bulk_page_size=1)
    changes = [c async for b in connector.read_all(BINDING, 1000) for c in b]
    assert len(changes) == 202
    assert [c.key for c in changes] == sorted(c.key for c in changes)
    bulk = changes[200]
    assert bulk.fields["AnnualRevenue"] == Decimal("5.25")
    assert bulk.fields["Email__c"] is None
    assert bulk.fields["Founded__c"] == date(2001, 1, 1)
    job = body_json(opened.calls("POST", f"{API}/jobs/query")[0])
    assert job["operation"] == "query"
    assert job["query"].endswith(f"WHERE Id > '001{199:015d}' ORDER BY Id")
    result_calls = opened.calls("GET", f"{API}/jobs/query/750Q/results")
    assert query_params(result_calls[1])["locator"] == "MTAwMDA"
    assert query_params(result_calls[0])["maxRecords"] == "1"
    opened.assert_used()
    await connector.close()


async def test_read_records_by_ids(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    opened.on("GET", f"{API}/query", page([{k: v for k, v in row(1).items() if k != "IsDeleted"}]))
    connector = make_connector()
    found = await connector.read_records(BINDING, [f"001{1:015d}", "001MISSING00000000"])
    assert list(found) == [f"001{1:015d}"]
    soql = query_params(opened.requests[-1])["q"]
    assert soql.endswith(f"WHERE Id IN ('001{1:015d}', '001MISSING00000000')")
    await connector.close()


async def test_write_batch_outcomes_in_op_order_with_named_errors(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    upsert_path = f"{API}/composite/sobjects/Account/ERP_Id__c"

    def upsert(request: httpx.Request) -> httpx.Response:
        records = body_json(request)["records"]
        assert [r["ERP_Id__c"] for r in records] == ["E-1", "E-2"]
        assert records[0]["AnnualRevenue"] == 1000.1  # a JSON number, exact digits
        assert b'"AnnualRevenue":1000.10' in request.content
        assert records[0]["Founded__c"] == "1999-12-31"
        return json_response(
            [
                {"id": "001A", "success": True, "errors": [], "created": True},
                {
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "INVALID_EMAIL_ADDRESS",
                            "message": "Email: invalid email address: not-an-email",
                            "fields": ["Email__c"],
                        }
                    ],
                },
            ]
        )

    opened.on("PATCH", upsert_path, upsert)
    opened.on(
        "PATCH",
        f"{API}/composite/sobjects",
        json_response([{"id": "001U", "success": True, "errors": []}]),
    )
    opened.on(
        "DELETE",
        f"{API}/composite/sobjects",
        json_response(
            [{"success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "gone"}]}]
        ),
    )
    ops = [
        WriteOp(
            "upsert",
            "erp-1",
            {"Name": "Acme", "AnnualRevenue": Decimal("1000.10"), "Founded__c": date(1999, 12, 31)},
            match="E-1",
        ),
        WriteOp("update", "erp-9", {"Name": "Renamed"}, key="001U"),
        WriteOp("upsert", "erp-2", {"Name": "Bad", "Email__c": "not-an-email"}, match="E-2"),
        WriteOp("upsert", "erp-3", {"Industry": "Mining"}, match="E-3"),
        WriteOp("upsert", "erp-4", {"Name": "x" * 21}, match="E-4"),
        WriteOp("delete", "erp-5", key="001D"),
    ]
    connector = make_connector()
    outcomes = await connector.write_batch(BINDING, ops)
    assert [o.ref for o in outcomes] == ["erp-1", "erp-9", "erp-2", "erp-3", "erp-4", "erp-5"]
    assert [o.ok for o in outcomes] == [True, True, False, False, False, True]
    assert (outcomes[0].key, outcomes[0].created) == ("001A", True)
    email = outcomes[2].error
    assert email is not None
    assert (email.record, email.field, email.value, email.code) == (
        "erp-2",
        "Email__c",
        "not-an-email",
        "INVALID_EMAIL_ADDRESS",
    )
    assert "erp-2" in str(email) and "Email__c" in str(email) and "not-an-email" in str(email)
    picklist = outcomes[3].error
    assert picklist is not None and picklist.field == "Industry" and picklist.value == "Mining"
    assert "restricted picklist" in str(picklist)
    too_long = outcomes[4].error
    assert too_long is not None and too_long.field == "Name"
    assert "longer than 20" in str(too_long)
    delete_params = query_params(opened.calls("DELETE", f"{API}/composite/sobjects")[0])
    assert delete_params["ids"] == "001D"
    opened.assert_used()
    await connector.close()


async def test_unknown_field_is_fatal_before_any_write(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    connector = make_connector()
    with pytest.raises(Fatal, match="no field\\(s\\) Colour__c"):
        await connector.write_batch(
            BINDING, [WriteOp("upsert", "r", {"Colour__c": "red"}, match="E")]
        )
    await connector.close()


async def test_write_batch_above_threshold_uses_bulk_ingest(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    uploaded: list[bytes] = []

    def upload(request: httpx.Request) -> httpx.Response:
        uploaded.append(request.read())
        return httpx.Response(201)

    opened.on("POST", f"{API}/jobs/ingest", json_response({"id": "750I", "state": "Open"}))
    opened.on("PUT", f"{API}/jobs/ingest/750I/batches", upload)
    opened.on(
        "PATCH", f"{API}/jobs/ingest/750I", json_response({"id": "750I", "state": "UploadComplete"})
    )
    opened.on(
        "GET",
        f"{API}/jobs/ingest/750I",
        [
            json_response({"id": "750I", "state": "InProgress"}),
            json_response(
                {
                    "id": "750I",
                    "state": "JobComplete",
                    "numberRecordsProcessed": 5,
                    "numberRecordsFailed": 2,
                }
            ),
        ],
    )
    success = (
        '"sf__Id","sf__Created",ERP_Id__c,Name\n'
        '"001E0","true",E-0,N0\n"001E2","false",E-2,N2\n"001E4","true",E-4,N4\n'
    )
    failed = (
        '"sf__Id","sf__Error",ERP_Id__c,Name\n'
        '"","DUPLICATE_VALUE:duplicate value found: Name:Name --",E-1,N1\n'
        '"","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--",E-3,N3\n'
    )
    opened.on(
        "GET", f"{API}/jobs/ingest/750I/successfulResults/", httpx.Response(200, text=success)
    )
    opened.on("GET", f"{API}/jobs/ingest/750I/failedResults/", httpx.Response(200, text=failed))
    opened.on(
        "PATCH",
        f"{API}/composite/sobjects/Account/ERP_Id__c",
        json_response([{"id": "001E3", "success": True, "errors": [], "created": True}]),
    )
    ops = [WriteOp("upsert", f"r{i}", {"Name": f"N{i}"}, match=f"E-{i}") for i in range(5)]
    connector = make_connector(bulk_threshold=3)
    outcomes = await connector.write_batch(BINDING, ops)
    assert [(o.ref, o.ok, o.key, o.created) for o in outcomes] == [
        ("r0", True, "001E0", True),
        ("r1", False, None, False),
        ("r2", True, "001E2", False),
        ("r3", True, "001E3", True),  # locked in the job, then sent again alone
        ("r4", True, "001E4", True),
    ]
    error = outcomes[1].error
    assert error is not None and error.code == "DUPLICATE_VALUE" and error.field == "Name"
    assert error.value == "N1"
    assert uploaded[0].decode().splitlines() == [
        "ERP_Id__c,Name",
        "E-0,N0",
        "E-1,N1",
        "E-2,N2",
        "E-3,N3",
        "E-4,N4",
    ]
    job = body_json(opened.calls("POST", f"{API}/jobs/ingest")[0])
    assert job == {
        "object": "Account",
        "operation": "upsert",
        "contentType": "CSV",
        "columnDelimiter": "COMMA",
        "lineEnding": "LF",
        "externalIdFieldName": "ERP_Id__c",
    }
    opened.assert_used()
    await connector.close()


async def test_bulk_job_failure_is_fatal_with_its_message(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    opened.on("POST", f"{API}/jobs/ingest", json_response({"id": "750F", "state": "Open"}))
    opened.on("PUT", f"{API}/jobs/ingest/750F/batches", httpx.Response(201))
    opened.on("PATCH", f"{API}/jobs/ingest/750F", json_response({"id": "750F"}))
    opened.on(
        "GET",
        f"{API}/jobs/ingest/750F",
        json_response(
            {"id": "750F", "state": "Failed", "errorMessage": "InvalidBatch : Field name not found"}
        ),
    )
    ops = [WriteOp("delete", f"r{i}", key=f"001{i}") for i in range(3)]
    connector = make_connector(bulk_threshold=2)
    with pytest.raises(Fatal, match="Field name not found"):
        await connector.write_batch(BINDING, ops)
    await connector.close()


async def test_quota_reserve_stops_before_the_call(
    stub: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    stub.token()
    stub.on(
        "GET",
        f"{API}/sobjects/Account/describe",
        json_response(
            {"name": "Account", "fields": ACCOUNT_FIELDS},
            headers={"Sforce-Limit-Info": "api-usage=800/1000"},
        ),
    )
    connector = make_connector()
    await connector.open()
    await connector.describe(BINDING)  # the first call goes through and brings the figures
    with pytest.raises(Fatal, match="used 800 of 1000, reserve 20%"):
        await connector.read_records(BINDING, [f"001{1:015d}"])  # used 800 of 1000: at the reserve
    assert connector.calls_made == 1
    await connector.close()


def test_change_type_is_the_contract() -> None:
    change = Change("001", {}, datetime(2024, 1, 1, tzinfo=UTC), deleted=True)
    assert change.cursor == Cursor(datetime(2024, 1, 1, tzinfo=UTC), "001")


async def test_binding_with_unsafe_names_is_a_config_error(
    stub: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    connector = make_connector()
    bad = EntityBinding("customer", "Account", "Id", ("Name", "Name FROM User--"), "ERP_Id__c")
    with pytest.raises(ConfigError) as info:
        await connector.describe(bad)
    assert info.value.field == "entities.customer.fields[1]"
    assert stub.requests == []  # refused before any call
    await connector.close()


async def test_relationship_lookup_by_external_id(
    opened: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    def upsert(request: httpx.Request) -> httpx.Response:
        record = body_json(request)["records"][0]
        assert record["Parent"] == {"ERP_Id__c": "P-1"}
        return json_response([{"id": "001C", "success": True, "errors": [], "created": True}])

    opened.on("PATCH", f"{API}/composite/sobjects/Account/ERP_Id__c", upsert)
    connector = make_connector()
    op = WriteOp("upsert", "c1", {"Name": "Child", "Parent.ERP_Id__c": "P-1"}, match="C-1")
    outcomes = await connector.write_batch(BINDING, [op])
    assert outcomes[0].ok
    await connector.close()


async def test_bulk_rate_is_readable_settable_and_kept_as_learned_numbers(
    stub: StrictStub, make_connector: Callable[..., SalesforceConnector]
) -> None:
    connector = make_connector()
    assert isinstance(connector, Learner) and isinstance(connector, SchemaCache)
    assert connector.bulk_rate is None and connector.learned() == {}
    connector.recall({"bulk_seconds_per_row": 2.5e-5, "something_else": 1.0})
    assert connector.bulk_rate == 2.5e-5 == connector.bulk.seconds_per_row
    # The results margin is kept beside a rate (the first guess until a job teaches one).
    margin = {"bulk_results_margin": 1.25}
    assert connector.learned() == {"bulk_seconds_per_row": 2.5e-5, **margin}
    connector.recall({"bulk_seconds_per_row": -1.0})  # unusable: ignored
    connector.recall({})
    assert connector.bulk_rate == 2.5e-5
    connector.bulk_rate = 4e-5
    assert connector.learned() == {"bulk_seconds_per_row": 4e-5, **margin}
    with pytest.raises(ValueError):
        connector.bulk_rate = 0.0
    connector.bulk_rate = None
    assert connector.learned() == {}
    connector.recall({"bulk_seconds_per_row.update": 3e-4, "bulk_seconds_per_row.x": -2.0})
    assert connector.learned() == {"bulk_seconds_per_row.update": 3e-4, **margin}
    # A remembered margin is taken within its bounds; a number that is none is ignored.
    connector.recall({"bulk_results_margin": 1.2})
    assert connector.bulk.results_margin == 1.2
    connector.recall({"bulk_results_margin": 9.0})
    assert connector.bulk.results_margin == 1.6
    connector.recall({"bulk_results_margin": 0.2})
    assert connector.bulk.results_margin == 1.1
    connector.recall({"bulk_results_margin": float("nan")})
    assert connector.bulk.results_margin == 1.1
    assert stub.requests == []
    await connector.close()
