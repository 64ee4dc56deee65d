"""Raw HTTP shapes and status codes of the sandbox's REST API (httpx, verified TLS)."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from crm_clients import api_client

from tandem.sandbox.salesforce.server import SandboxHandle


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def test_version_list_is_free_and_unauthenticated(crm: SandboxHandle, api: httpx.Client) -> None:
    before = crm.state.usage.used
    answer = api.get(f"{crm.base_url}/services/data/", headers={"Authorization": ""})
    assert answer.status_code == 200
    versions = {v["version"]: v for v in answer.json()}
    assert versions["59.0"]["url"] == "/services/data/v59.0"
    assert versions["60.0"]["label"] == "Spring '24"
    assert {"42.0", "66.0"} <= set(versions)
    assert crm.state.usage.used == before
    assert answer.headers["Sforce-Limit-Info"] == f"api-usage={before}/{crm.state.usage.maximum}"


@pytest.mark.parametrize("auth", ["", "Bearer nope"])
def test_missing_or_bad_token_is_401_list(api: httpx.Client, auth: str) -> None:
    answer = api.get("limits/", headers={"Authorization": auth})
    assert answer.status_code == 401
    assert answer.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_every_api_answer_carries_the_limit_header(api: httpx.Client) -> None:
    first = api.get("limits")
    second = api.get("sobjects/Nope__c/describe")
    used_first = int(first.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
    used_second = int(second.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])
    assert second.status_code == 404
    assert used_second == used_first + 1


def test_trailing_slash_does_not_matter(api: httpx.Client) -> None:
    assert api.get("sobjects/Account/describe").status_code == 200
    assert api.get("sobjects/Account/describe/").status_code == 200


def test_unknown_version_and_path_are_not_found(crm: SandboxHandle, api: httpx.Client) -> None:
    for url in (f"{crm.base_url}/services/data/v30.0/limits", "no/such/thing"):
        answer = api.get(url)
        assert answer.status_code == 404
        assert answer.json()[0]["errorCode"] == "NOT_FOUND"
        assert answer.json()[0]["message"] == "The requested resource does not exist"


def test_wrong_method_is_405(api: httpx.Client) -> None:
    answer = api.put("sobjects/Account/describe", json={})
    assert answer.status_code == 405
    assert answer.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_bad_json_is_json_parser_error(api: httpx.Client) -> None:
    answer = api.post(
        "sobjects/Account/", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_malformed_query_and_unknown_field(api: httpx.Client) -> None:
    bad = api.get("query/", params={"q": "SELECT FROM"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "MALFORMED_QUERY"
    unknown = api.get("query/", params={"q": "SELECT Nope__c FROM Account"})
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"


def test_create_answers_201_with_location(api: httpx.Client) -> None:
    answer = api.post("sobjects/Account/", json={"Name": f"H-{_tag()}"})
    assert answer.status_code == 201
    body = answer.json()
    assert body["success"] is True and body["errors"] == []
    assert body["id"].startswith("001") and len(body["id"]) == 18
    assert answer.headers["Location"] == f"/services/data/v59.0/sobjects/Account/{body['id']}"


def test_post_on_id_field_with_null_creates(api: httpx.Client) -> None:
    answer = api.post("sobjects/Account/Id", json={"Id": None, "Name": f"N-{_tag()}"})
    assert answer.status_code == 201
    assert answer.json()["created"] is True


def test_upsert_status_codes_by_version(crm: SandboxHandle, api: httpx.Client) -> None:
    ext = f"V-{_tag()}"
    created = api.patch(f"sobjects/Account/ERP_Id__c/{ext}", json={"Name": "A"})
    assert created.status_code == 201
    assert created.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": True,
    }
    updated = api.patch(f"sobjects/Account/ERP_Id__c/{ext}", json={"Name": "B"})
    assert updated.status_code == 200 and updated.json()["created"] is False
    with api_client(crm, version="45.0") as old:
        assert old.patch(f"sobjects/Account/ERP_Id__c/{ext}", json={"Name": "C"}).status_code == 204


def test_upsert_on_unknown_field_is_404(api: httpx.Client) -> None:
    answer = api.patch("sobjects/Account/Nope__c/x", json={"Name": "A"})
    assert answer.status_code == 404
    assert answer.json()[0]["errorCode"] == "NOT_FOUND"


def test_duplicate_external_ids_answer_300(api: httpx.Client) -> None:
    code = f"L-{_tag()}"
    for name in ("one", "two"):
        assert api.post("sobjects/Account/", json={"Name": name, "Legacy_Code__c": code}).is_success
    upsert = api.patch(f"sobjects/Account/Legacy_Code__c/{code}", json={"Name": "x"})
    assert upsert.status_code == 300
    assert len(upsert.json()) == 2
    assert all(url.startswith("/services/data/v59.0/sobjects/Account/") for url in upsert.json())
    assert api.get(f"sobjects/Account/Legacy_Code__c/{code}").status_code == 300


def test_collections_all_or_none_rolls_back(api: httpx.Client) -> None:
    tag = _tag()
    body = {
        "allOrNone": True,
        "records": [
            {"attributes": {"type": "Account"}, "Name": f"R-{tag}"},
            {"attributes": {"type": "Account"}, "Description": "no Name"},
        ],
    }
    answer = api.post("composite/sobjects", json=body)
    assert answer.status_code == 200
    first, second = answer.json()
    assert first["success"] is False
    assert first["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert second["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    count = api.get("query", params={"q": f"SELECT COUNT() FROM Account WHERE Name = 'R-{tag}'"})
    assert count.json()["totalSize"] == 0


def test_collections_limits_and_retrieve(api: httpx.Client) -> None:
    too_many = {"records": [{"attributes": {"type": "Account"}, "Name": "x"}] * 201}
    answer = api.post("composite/sobjects", json=too_many)
    assert answer.status_code == 400 and isinstance(answer.json(), list)
    created = api.post(
        "composite/sobjects",
        json={"records": [{"attributes": {"type": "Account"}, "Name": f"G-{_tag()}"}]},
    ).json()
    record_id = created[0]["id"]
    got = api.get("composite/sobjects/Account", params={"ids": record_id, "fields": "Id,Name"})
    assert got.status_code == 200 and got.json()[0]["Id"] == record_id
    deleted = api.delete("composite/sobjects", params={"ids": record_id})
    assert deleted.json() == [{"id": record_id, "success": True, "errors": []}]


def test_query_paging_honours_batch_size(api: httpx.Client) -> None:
    tag = _tag()
    records = [
        {"attributes": {"type": "Account"}, "Name": f"S-{i}", "AccountNumber": tag}
        for i in range(200)
    ]
    for _ in range(2):
        assert api.post("composite/sobjects", json={"records": records}).status_code == 200
    soql = f"SELECT Id FROM Account WHERE AccountNumber = '{tag}'"
    first = api.get("query/", params={"q": soql}, headers={"Sforce-Query-Options": "batchSize=300"})
    body = first.json()
    assert (body["totalSize"], len(body["records"]), body["done"]) == (400, 300, False)
    rest = api.get(body["nextRecordsUrl"].removeprefix("/services/data/v59.0/")).json()
    assert (len(rest["records"]), rest["done"]) == (100, True)
    assert "nextRecordsUrl" not in rest


def test_replication_accepts_z_and_offsets(api: httpx.Client) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    end = start + dt.timedelta(days=2)
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00", "%Y-%m-%dT%H:%M:%S.000+0000"):
        params = {"start": start.strftime(fmt), "end": end.strftime(fmt)}
        answer = api.get("sobjects/Account/updated/", params=params)
        assert answer.status_code == 200 and "ids" in answer.json(), fmt
    missing = api.get("sobjects/Account/updated/")
    assert missing.status_code == 400 and isinstance(missing.json(), list)


def test_composite_references_and_all_or_none(api: httpx.Client) -> None:
    tag = _tag()
    ok = api.post(
        "composite",
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Account",
                    "referenceId": "acct",
                    "body": {"Name": f"K-{tag}"},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Contact",
                    "referenceId": "contact",
                    "body": {"LastName": "Doe", "AccountId": "@{acct.id}"},
                },
                {
                    "method": "GET",
                    "url": "/services/data/v59.0/sobjects/Contact/@{contact.id}?fields=AccountId",
                    "referenceId": "check",
                },
            ]
        },
    ).json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in ok] == [201, 201, 200]
    assert ok[2]["body"]["AccountId"] == ok[0]["body"]["id"]

    halted = api.post(
        "composite",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Account",
                    "referenceId": "good",
                    "body": {"Name": f"Z-{tag}"},
                },
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Account",
                    "referenceId": "bad",
                    "body": {"Description": "no Name"},
                },
            ],
        },
    ).json()["compositeResponse"]
    assert halted[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert halted[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    count = api.get("query", params={"q": f"SELECT COUNT() FROM Account WHERE Name = 'Z-{tag}'"})
    assert count.json()["totalSize"] == 0


def test_external_id_values_are_decoded_after_routing(api: httpx.Client) -> None:
    value = f"A/B {_tag()}"
    encoded = value.replace("/", "%2F").replace(" ", "%20")
    created = api.patch(f"sobjects/Account/ERP_Id__c/{encoded}", json={"Name": "slash"})
    assert created.status_code == 201
    got = api.get(f"sobjects/Account/ERP_Id__c/{encoded}")
    assert got.json()["ERP_Id__c"] == value


def test_many_clients_at_once(crm: SandboxHandle) -> None:
    tag = _tag()

    def work(worker: int) -> list[bool]:
        with api_client(crm) as api:
            outcomes = []
            for batch in range(5):
                records = [
                    {
                        "attributes": {"type": "Account"},
                        "Name": f"M{worker}-{batch}-{n}",
                        "ERP_Id__c": f"M-{tag}-{worker}-{batch}-{n}",
                    }
                    for n in range(40)
                ]
                answer = api.patch(
                    "composite/sobjects/Account/ERP_Id__c", json={"records": records}
                )
                outcomes += [result["success"] for result in answer.json()]
                shared = api.patch(f"sobjects/Account/ERP_Id__c/M-{tag}-shared", json={"Name": "s"})
                outcomes.append(shared.status_code in (200, 201))
            return outcomes

    with ThreadPoolExecutor(8) as pool:
        outcomes = [ok for result in pool.map(work, range(8)) for ok in result]
    assert all(outcomes) and len(outcomes) == 8 * 5 * 41
    with api_client(crm) as api:
        soql = f"SELECT COUNT() FROM Account WHERE ERP_Id__c LIKE 'M-{tag}-%'"
        assert api.get("query", params={"q": soql}).json()["totalSize"] == 8 * 5 * 40 + 1


def test_unexpected_errors_are_unknown_exception_without_traceback(
    crm: SandboxHandle, api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(api_version: str) -> dict[str, object]:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(crm.org, "describe_global", broken)
    answer = api.get("sobjects/")
    assert answer.status_code == 500
    (error,) = answer.json()
    assert error["errorCode"] == "UNKNOWN_EXCEPTION"
    assert "ErrorId" in error["message"]
    assert "secret internals" not in answer.text and "Traceback" not in answer.text


def test_update_only_upsert_refuses_to_insert(api: httpx.Client) -> None:
    ext = f"UO-{_tag()}"
    refused = api.patch(f"sobjects/Account/ERP_Id__c/{ext}?updateOnly=true", json={"Name": "x"})
    assert refused.status_code == 404 and refused.json()[0]["errorCode"] == "NOT_FOUND"
    assert api.patch(f"sobjects/Account/ERP_Id__c/{ext}", json={"Name": "x"}).status_code == 201
    updated = api.patch(f"sobjects/Account/ERP_Id__c/{ext}?updateOnly=true", json={"Name": "y"})
    assert updated.status_code == 200


def test_version_root_and_composite_limit(api: httpx.Client) -> None:
    root = api.get("")
    assert root.status_code == 200
    assert root.json()["sobjects"] == "/services/data/v59.0/sobjects"
    sub = {"method": "GET", "url": "/services/data/v59.0/limits"}
    many = [{**sub, "referenceId": f"r{i}"} for i in range(26)]
    answer = api.post("composite", json={"compositeRequest": many})
    assert answer.status_code == 400 and isinstance(answer.json(), list)
    ok = api.post("composite", json={"compositeRequest": many[:25]})
    assert [r["httpStatusCode"] for r in ok.json()["compositeResponse"]] == [200] * 25
