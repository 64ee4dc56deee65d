"""The sandbox merges records as Salesforce's SOAP ``merge()`` does: the master keeps its Id,
the losers' related records move to it, the losers go to the recycle bin with
``MasterRecordId`` set (what ``queryAll`` shows), and ``getDeleted`` lists them as deletes."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from crm_clients import api_client

from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

_ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:urn="urn:partner.soap.sforce.com" xmlns:sobj="urn:sobject.partner.soap.sforce.com" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<env:Header><urn:SessionHeader><urn:sessionId>{session}</urn:sessionId>"
    "</urn:SessionHeader></env:Header>"
    "<env:Body><urn:merge>{requests}</urn:merge></env:Body></env:Envelope>"
)


def _request(sobject: str, master: str, losers: list[str], fields: str = "") -> str:
    ids = "".join(f"<urn:recordToMergeIds>{i}</urn:recordToMergeIds>" for i in losers)
    return (
        f"<urn:request><urn:masterRecord><sobj:type>{sobject}</sobj:type>"
        f"<sobj:Id>{master}</sobj:Id>{fields}</urn:masterRecord>{ids}</urn:request>"
    )


@pytest.fixture
def soap(crm: SandboxHandle) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(crm.ca_file))
    with httpx.Client(base_url=crm.base_url, verify=context, timeout=30) as client:
        yield client


def _merge(
    soap: httpx.Client, crm: SandboxHandle, *requests: str, session: str = ""
) -> httpx.Response:
    body = _ENVELOPE.format(session=session or crm.issue_token(), requests="".join(requests))
    return soap.post(
        f"/services/Soap/u/59.0/{crm.org.org_id}",
        content=body,
        headers={"content-type": "text/xml", "SOAPAction": "merge"},
    )


def _create(api: httpx.Client, sobject: str, **values: object) -> str:
    answer = api.post(f"sobjects/{sobject}/", json=values)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _query_all(api: httpx.Client, soql: str) -> list[dict[str, object]]:
    answer = api.get("queryAll/", params={"q": soql})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["records"])


def test_a_soap_merge_deletes_the_losers_with_their_master_named(
    crm: SandboxHandle, api: httpx.Client, soap: httpx.Client
) -> None:
    master = _create(api, "Account", Name="Acme")
    first = _create(api, "Account", Name="ACME Ltd", Phone="+48 22 000 00 01")
    second = _create(api, "Account", Name="Acme (old)")
    contact = _create(api, "Contact", LastName="Nowak", AccountId=first)
    soql = (
        "SELECT Id, IsDeleted, MasterRecordId, SystemModstamp FROM Account"
        f" WHERE Id IN ('{master}', '{first}', '{second}')"
    )
    stamps = {r["Id"]: r["SystemModstamp"] for r in _query_all(api, soql)}

    answer = _merge(
        soap,
        crm,
        _request(
            "Account",
            master,
            [first, second],
            "<Phone>+48 22 000 00 01</Phone><NumberOfEmployees>120</NumberOfEmployees>",
        ),
    )

    assert answer.status_code == 200, answer.text
    text = answer.text
    assert "<success>true</success>" in text and f"<id>{master}</id>" in text
    assert f"<mergedRecordIds>{first}</mergedRecordIds>" in text
    assert f"<mergedRecordIds>{second}</mergedRecordIds>" in text
    assert f"<updatedRelatedIds>{contact}</updatedRelatedIds>" in text
    rows = {r["Id"]: r for r in _query_all(api, soql)}
    assert rows[master]["IsDeleted"] is False and rows[master]["MasterRecordId"] is None
    for loser in (first, second):
        assert rows[loser]["IsDeleted"] is True
        assert rows[loser]["MasterRecordId"] == master
        assert str(rows[loser]["SystemModstamp"]) > str(stamps[loser])
    assert str(rows[master]["SystemModstamp"]) > str(stamps[master])
    kept = api.get(f"sobjects/Account/{master}").json()
    assert (kept["Name"], kept["Phone"]) == ("Acme", "+48 22 000 00 01")
    assert kept["NumberOfEmployees"] == 120
    assert api.get(f"sobjects/Contact/{contact}").json()["AccountId"] == master
    assert api.get(f"sobjects/Account/{first}").json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    # a plain query leaves them out
    live = api.get("query/", params={"q": soql}).json()["records"]
    assert [r["Id"] for r in live] == [master]
    # how Salesforce's documentation finds merges: deleted, with a master
    merged = (
        "SELECT Id FROM Account WHERE IsDeleted = true AND MasterRecordId != null"
        f" AND Id = '{first}'"
    )
    assert [r["Id"] for r in _query_all(api, merged)] == [first]


def test_only_mergeable_objects_have_master_record_id(api: httpx.Client) -> None:
    names = {f["name"]: f for f in api.get("sobjects/Account/describe").json()["fields"]}
    master = names["MasterRecordId"]
    assert master["type"] == "reference" and master["referenceTo"] == ["Account"]
    assert master["createable"] is False and master["updateable"] is False
    assert "MasterRecordId" in {
        f["name"] for f in api.get("sobjects/Contact/describe").json()["fields"]
    }
    custom = {f["name"] for f in api.get("sobjects/Invoice__c/describe").json()["fields"]}
    assert "MasterRecordId" not in custom
    # nobody writes it but a merge
    refused = api.post("sobjects/Account/", json={"Name": "x", "MasterRecordId": None})
    assert refused.status_code == 400


def test_a_refused_merge_changes_nothing_and_says_why(
    crm: SandboxHandle, api: httpx.Client, soap: httpx.Client
) -> None:
    master = _create(api, "Account", Name="Master")
    a, b, c = (_create(api, "Account", Name=n) for n in ("a", "b", "c"))
    gone = _create(api, "Account", Name="gone")
    assert api.delete(f"sobjects/Account/{gone}").status_code == 204

    answer = _merge(
        soap,
        crm,
        _request("Account", master, [a, b, c]),
        _request("Account", master, [master]),
        _request("Account", master, [gone]),
        _request("Account", master, [a], "<NoSuchField__c>x</NoSuchField__c>"),
    )

    assert answer.status_code == 200, answer.text
    results = answer.text.split("<result>")[1:]
    assert "<statusCode>LIMIT_EXCEEDED</statusCode>" in results[0]
    assert "<statusCode>INVALID_ID_FIELD</statusCode>" in results[1]
    assert "<statusCode>ENTITY_IS_DELETED</statusCode>" in results[2]
    assert "<statusCode>INVALID_FIELD</statusCode>" in results[3]
    assert all("<success>false</success>" in r for r in results)
    soql = f"SELECT Id FROM Account WHERE Id IN ('{a}', '{b}', '{c}')"
    assert len(api.get("query/", params={"q": soql}).json()["records"]) == 3


def test_merge_needs_a_session_and_a_mergeable_object(
    crm: SandboxHandle, api: httpx.Client, soap: httpx.Client
) -> None:
    a, b = _create(api, "Account", Name="a"), _create(api, "Account", Name="b")
    refused = _merge(soap, crm, _request("Account", a, [b]), session="not-a-session")
    assert refused.status_code == 500
    assert "<sf:exceptionCode>INVALID_SESSION_ID</sf:exceptionCode>" in refused.text
    first = _create(api, "Invoice__c", Name="INV-1")
    second = _create(api, "Invoice__c", Name="INV-2")
    answer = _merge(soap, crm, _request("Invoice__c", first, [second]))
    assert answer.status_code == 200
    assert "<statusCode>INVALID_TYPE</statusCode>" in answer.text
    assert api.get(f"sobjects/Account/{b}").status_code == 200


def test_get_deleted_lists_a_merge_loser_as_a_delete(tmp_path: Path) -> None:
    now = [datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC)]
    with running_sandbox(tmp_path / "crm", clock=lambda: now[0]) as crm, api_client(crm) as api:
        master, loser = _create(api, "Account", Name="a"), _create(api, "Account", Name="b")
        context = ssl.create_default_context(cafile=str(crm.ca_file))
        with httpx.Client(base_url=crm.base_url, verify=context, timeout=30) as soap:
            assert (
                "<success>true</success>"
                in _merge(soap, crm, _request("Account", master, [loser])).text
            )
        now[0] += timedelta(minutes=2)  # getDeleted never reaches into the current minute
        answer = api.get(
            "sobjects/Account/deleted/",
            params={"start": "2026-03-02T09:59:00Z", "end": "2026-03-02T10:02:00Z"},
        )
    assert answer.status_code == 200, answer.text
    assert [d["id"] for d in answer.json()["deletedRecords"]] == [loser]


def _loser_kept(crm: SandboxHandle, loser: str) -> bool:
    with api_client(crm) as fresh:
        return fresh.get(f"sobjects/Account/{loser}").status_code == 200


@pytest.mark.parametrize(
    ("faults", "status", "code"),
    [
        ({"error_rates": {"503": 1.0}, "retry_after_s": 7}, 503, "SERVER_UNAVAILABLE"),
        ({"error_rates": {"500": 1.0}}, 500, "UNKNOWN_EXCEPTION"),
        ({"lock_rate": 1.0}, 500, "UNABLE_TO_LOCK_ROW"),
        ({"limit_after": 0}, 500, "REQUEST_LIMIT_EXCEEDED"),
        ({"expire_every": 1}, 500, "INVALID_SESSION_ID"),
    ],
)
def test_injected_faults_reach_a_soap_merge_as_soap_faults(
    crm: SandboxHandle,
    api: httpx.Client,
    soap: httpx.Client,
    faults: dict[str, object],
    status: int,
    code: str,
) -> None:
    master, loser = _create(api, "Account", Name="Master"), _create(api, "Account", Name="Loser")
    session = crm.issue_token()
    crm.set_faults(faults)
    try:
        refused = _merge(soap, crm, _request("Account", master, [loser]), session=session)
    finally:
        crm.clear_faults()
    assert refused.status_code == status, refused.text
    assert f"<faultcode>sf:{code}</faultcode>" in refused.text
    assert f"<sf:exceptionCode>{code}</sf:exceptionCode>" in refused.text
    if status == 503:
        assert refused.headers["Retry-After"] == "7"
    assert _loser_kept(crm, loser)  # a faulted merge changed nothing
    again = _merge(soap, crm, _request("Account", master, [loser]))  # a fresh session
    assert again.status_code == 200, again.text
    assert "<success>true</success>" in again.text
    assert not _loser_kept(crm, loser)
