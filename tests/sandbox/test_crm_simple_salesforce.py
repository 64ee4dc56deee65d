"""The unchanged simple-salesforce client against the sandbox, over verified HTTPS."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from crm_clients import sandbox_session
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def direct(sandbox: SandboxHandle) -> Salesforce:
    """A client on an existing session (session_id + instance_url, no login call)."""
    return Salesforce(
        instance_url=sandbox.base_url,
        session_id=sandbox.issue_token(),
        session=sandbox_session(sandbox),
    )


def oauth_password(sandbox: SandboxHandle) -> Salesforce:
    return Salesforce(
        username=sandbox.username,
        password=sandbox.password,
        consumer_key=sandbox.client_id,
        consumer_secret=sandbox.client_secret,
        session=sandbox_session(sandbox),
    )


@pytest.fixture
def sf(crm: SandboxHandle) -> Salesforce:
    return direct(crm)


# -- login flows -----------------------------------------------------------------------------


def test_oauth_password_login_then_query(crm: SandboxHandle) -> None:
    sf = oauth_password(crm)
    assert sf.sf_instance == crm.base_url.removeprefix("https://")
    assert sf.query("SELECT Id FROM Account LIMIT 1")["done"] is True


def test_jwt_bearer_login(crm: SandboxHandle) -> None:
    sf = Salesforce(
        username=crm.username,
        consumer_key=crm.client_id,
        privatekey_file=str(crm.private_key_file),
        session=sandbox_session(crm),
    )
    assert "sobjects" in sf.describe()


def test_client_credentials_login_on_my_domain(crm: SandboxHandle) -> None:
    sf = Salesforce(
        consumer_key=crm.client_id,
        consumer_secret=crm.client_secret,
        domain="acme.my",
        session=sandbox_session(crm),
    )
    assert sf.limits()["DailyApiRequests"]["Max"] > 0


def test_soap_login_with_security_token(crm: SandboxHandle) -> None:
    sf = Salesforce(
        username=crm.username,
        password=crm.password,
        security_token=crm.security_token,
        session=sandbox_session(crm),
    )
    assert sf.sf_instance == crm.base_url.removeprefix("https://")
    assert sf.query("SELECT COUNT() FROM Account")["done"] is True


def test_bad_credentials_are_refused_per_flow(crm: SandboxHandle) -> None:
    session = sandbox_session(crm)
    with pytest.raises(SalesforceAuthenticationFailed) as soap:
        Salesforce(username=crm.username, password="wrong", security_token="x", session=session)
    assert soap.value.code == "INVALID_LOGIN"
    with pytest.raises(SalesforceAuthenticationFailed) as oauth:
        Salesforce(
            username=crm.username,
            password="wrong",
            consumer_key=crm.client_id,
            consumer_secret=crm.client_secret,
            session=session,
        )
    assert oauth.value.code == "invalid_grant"
    assert "authentication failure" in str(oauth.value)


# -- records ---------------------------------------------------------------------------------


def test_crud_and_upsert_by_external_id(sf: Salesforce) -> None:
    ext = f"E-{_tag()}"
    assert sf.Account.upsert(f"ERP_Id__c/{ext}", {"Name": "Acme"}) == 201
    assert sf.Account.upsert(f"ERP_Id__c/{ext}", {"Name": "Acme Ltd"}) == 200
    record = sf.Account.get_by_custom_id("ERP_Id__c", ext)
    assert record["Name"] == "Acme Ltd"
    assert record["attributes"]["type"] == "Account"

    created = sf.Account.create({"Name": "Beta"})
    assert created["success"] is True
    assert sf.Account.update(created["id"], {"Name": "Beta 2"}) == 204
    assert sf.Account.get(created["id"])["Name"] == "Beta 2"
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])


def test_validation_error_is_a_malformed_request(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Account.create({"Description": "no name"})
    assert err.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_query_all_follows_next_records_url_past_2000_rows(sf: Salesforce) -> None:
    tag = _tag()
    rows = [{"Name": f"Q-{tag}-{i:05d}", "AccountNumber": tag} for i in range(2300)]
    results = sf.bulk2.Account.insert(records=rows, wait=0.1)
    assert sum(r["numberRecordsProcessed"] for r in results) == 2300
    first = sf.query(f"SELECT Id, Name FROM Account WHERE AccountNumber = '{tag}'")
    assert first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    every = sf.query_all(f"SELECT Id, Name FROM Account WHERE AccountNumber = '{tag}'")
    assert every["totalSize"] == 2300
    assert len({r["Id"] for r in every["records"]}) == 2300


def test_describe_global_and_object(sf: Salesforce) -> None:
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Account", "Contact", "Opportunity"} <= names
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert fields["ERP_Id__c"]["externalId"] is True
    assert "objectDescribe" in sf.Account.metadata()


def test_updated_and_deleted_windows(tmp_path: Path) -> None:
    now = [dt.datetime(2026, 3, 2, 10, 0, 30, tzinfo=dt.UTC)]
    with running_sandbox(tmp_path / "crm", clock=lambda: now[0]) as crm:
        sf = direct(crm)
        kept = sf.Account.create({"Name": "kept"})
        gone = sf.Account.create({"Name": "gone"})
        sf.Account.delete(gone["id"])
        start = now[0] - dt.timedelta(minutes=5)
        # getUpdated/getDeleted windows stop at the current minute, as in Salesforce
        assert sf.Account.updated(start, now[0])["ids"] == []
        now[0] += dt.timedelta(minutes=2)
        updated = sf.Account.updated(start, now[0])
        assert updated["ids"] == [kept["id"]]
        assert updated["latestDateCovered"].startswith("2026-03-02T10:02:00")
        deleted = sf.Account.deleted(start, now[0])
        assert [r["id"] for r in deleted["deletedRecords"]] == [gone["id"]]
        assert "earliestDateAvailable" in deleted


def test_collections_through_restful(sf: Salesforce) -> None:
    tag = _tag()
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "Name": f"C-{tag}-1"},
            {"attributes": {"type": "Account"}, "Description": "missing Name"},
        ],
    }
    results: Any = sf.restful("composite/sobjects", method="POST", json=body)
    assert results[0]["success"] is True
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    upsert = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Account"}, "Name": "U", "ERP_Id__c": f"U-{tag}"}],
    }
    first: Any = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH", json=upsert)
    again: Any = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH", json=upsert)
    assert (first[0]["created"], again[0]["created"]) == (True, False)
    assert first[0]["id"] == again[0]["id"]


def test_limits_and_api_usage_header(sf: Salesforce) -> None:
    limits = sf.limits()
    assert set(limits["DailyApiRequests"]) == {"Max", "Remaining"}
    assert "DailyBulkV2QueryJobs" in limits
    used, maximum = sf.api_usage["api-usage"]
    assert 0 < used <= maximum


# -- Bulk 2.0 --------------------------------------------------------------------------------


def test_bulk2_upsert_results_and_delete(sf: Salesforce) -> None:
    tag = _tag()
    rows = [{"Name": f"B-{i}", "ERP_Id__c": f"B-{tag}-{i}"} for i in range(5)]
    rows.append({"Name": "", "ERP_Id__c": f"B-{tag}-bad"})
    (result,) = sf.bulk2.Account.upsert(records=rows, external_id_field="ERP_Id__c", wait=0.1)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (6, 1)
    job = result["job_id"]
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(job))))
    assert len(ok) == 5 and all(r["sf__Created"] == "true" for r in ok)
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(job))))
    assert failed[0]["ERP_Id__c"] == f"B-{tag}-bad"
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING")
    unprocessed = sf.bulk2.Account.get_unprocessed_records(job).strip()
    assert sorted(unprocessed.split(",")) == ["ERP_Id__c", "Name"]

    (again,) = sf.bulk2.Account.upsert(records=rows[:2], external_id_field="ERP_Id__c", wait=0.1)
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(again["job_id"]))))
    assert [r["sf__Created"] for r in ok] == ["false", "false"]

    ids = [{"Id": r["sf__Id"]} for r in ok]
    (deleted,) = sf.bulk2.Account.delete(records=ids, wait=0.1)
    assert deleted["numberRecordsFailed"] == 0
    remaining = sf.query(f"SELECT COUNT() FROM Account WHERE ERP_Id__c LIKE 'B-{tag}-%'")
    assert remaining["totalSize"] == 3


def test_bulk2_query_pages_with_locator(sf: Salesforce) -> None:
    tag = _tag()
    rows = [{"Name": f"P-{i:03d}", "AccountNumber": tag} for i in range(25)]
    sf.bulk2.Account.insert(records=rows, wait=0.1)
    pages = list(
        sf.bulk2.Account.query(
            f"SELECT Name FROM Account WHERE AccountNumber = '{tag}' ORDER BY Name",
            max_records=10,
            wait=0.1,
        )
    )
    assert len(pages) == 3
    names = [r["Name"] for page in pages for r in csv.DictReader(io.StringIO(str(page)))]
    assert names == [f"P-{i:03d}" for i in range(25)]


def test_bulk2_download_to_files(sf: Salesforce, tmp_path: Path) -> None:
    tag = _tag()
    sf.bulk2.Account.insert(
        records=[{"Name": f"D-{i}", "AccountNumber": tag} for i in range(12)], wait=0.1
    )
    results = sf.bulk2.Account.download(
        f"SELECT Id, Name FROM Account WHERE AccountNumber = '{tag}'",
        path=str(tmp_path),
        max_records=5,
        wait=0.1,
    )
    assert [r["number_of_records"] for r in results] == [5, 5, 2]
    rows = [
        row for r in results for row in csv.DictReader(io.StringIO(Path(r["file"]).read_text()))
    ]
    assert sorted(row["Name"] for row in rows) == sorted(f"D-{i}" for i in range(12))
