"""sObject Collections semantics: per-record results, allOrNone, limits, recycle bin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sforg_helpers import V, make_org, q

from tandem.sandbox.salesforce import ApiError, Org, SaveResult

ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    org = make_org(tmp_path / "org.db")
    yield org
    org.close()


def acc(name: str | None, **extra: object) -> dict[str, object]:
    record: dict[str, object] = {"attributes": {"type": "Account"}, **extra}
    if name is not None:
        record["Name"] = name
    return record


def test_create_many_mixed_types_partial_success(org: Org) -> None:
    results = org.create_many(
        [
            acc("A"),
            {"attributes": {"type": "Contact"}, "LastName": "Doe"},
            acc(None),
            {"attributes": {"type": "Nope__c"}, "Name": "x"},
            {"Name": "no type"},
        ],
        all_or_none=False,
    )
    assert [r.success for r in results] == [True, True, False, False, False]
    assert results[0].id and results[0].id.startswith("001")
    assert results[1].id and results[1].id.startswith("003")
    assert results[2].errors == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Name]",
            "fields": ["Name"],
        }
    ]
    assert results[3].errors[0]["statusCode"] == "INVALID_TYPE"
    assert results[0].to_json(with_created=False) == {
        "id": results[0].id,
        "success": True,
        "errors": [],
    }
    assert len(q(org, "SELECT Id FROM Account")) == 1


def test_all_or_none_rolls_back(org: Org) -> None:
    results = org.create_many([acc("A"), acc("B"), acc("C" * 300)], all_or_none=True)
    assert [r.success for r in results] == [False, False, False]
    assert results[0].errors[0]["statusCode"] == ROLLED_BACK and results[0].id is None
    assert results[2].errors[0]["statusCode"] == "STRING_TOO_LONG"
    assert q(org, "SELECT Id FROM Account") == []
    # Rollback also undoes updates of earlier records in the same call.
    first = org.create("Account", {"Name": "Keep"})
    results = org.update_many(
        [acc(None, Id=first, Name="Changed"), acc(None, Id="001000000000009AAA", Name="X")],
        all_or_none=True,
    )
    assert [r.errors[0]["statusCode"] for r in results] == [ROLLED_BACK, "NOT_FOUND"]
    assert org.retrieve("Account", first, ["Name"], V)["Name"] == "Keep"


def test_limit_of_200(org: Org) -> None:
    with pytest.raises(ApiError) as info:
        org.create_many([acc(f"A{i}") for i in range(201)], all_or_none=False)
    assert (info.value.status, info.value.error_code) == (400, "EXCEEDED_ID_LIMIT")
    assert len(org.create_many([acc(f"A{i}") for i in range(200)], all_or_none=False)) == 200
    with pytest.raises(ApiError):
        org.delete_many(["001000000000009AAA"] * 201, all_or_none=False)


def test_update_many(org: Org) -> None:
    a = org.create("Account", {"Name": "A"})
    c = org.create("Contact", {"LastName": "D"})
    results = org.update_many(
        [
            acc(None, Id=a, Phone="1"),
            {"attributes": {"type": "Contact"}, "Id": c, "Email": "d@example.com"},
            {"Id": c[:15], "Title": "CTO"},  # no type: taken from the id prefix
            acc(None, Phone="2"),  # no id
            acc(None, Id=c, Phone="3"),  # id of another object
            acc(None, Id="garbage", Phone="3"),
        ],
        all_or_none=False,
    )
    assert [r.success for r in results] == [True, True, True, False, False, False]
    assert results[3].errors[0]["statusCode"] == "MISSING_ARGUMENT"
    assert results[4].errors[0]["statusCode"] == "MALFORMED_ID"
    assert results[5].errors[0]["statusCode"] == "MALFORMED_ID"
    assert results[2].id == c
    contact = org.retrieve("Contact", c, ["Email", "Title"], V)
    assert (contact["Email"], contact["Title"]) == ("d@example.com", "CTO")


def test_upsert_many(org: Org) -> None:
    existing = org.create("Account", {"Name": "Old", "ERP_Id__c": "E-1"})
    results = org.upsert_many(
        "Account",
        "ERP_Id__c",
        [
            acc("New name", ERP_Id__c="E-1"),
            acc("Fresh", ERP_Id__c="E-2"),
            acc("Dup 1", ERP_Id__c="E-3"),
            acc("Dup 2", ERP_Id__c="e-3"),
            acc("No key"),
            acc(None, ERP_Id__c="E-4"),
        ],
        all_or_none=False,
    )
    assert [(r.success, r.created) for r in results[:2]] == [(True, False), (True, True)]
    assert results[0].id == existing
    assert results[0].to_json(with_created=True)["created"] is False
    assert results[1].to_json(with_created=True)["created"] is True
    codes = [r.errors[0]["statusCode"] for r in results[2:]]
    assert codes == [
        "DUPLICATE_VALUE",
        "DUPLICATE_VALUE",
        "MISSING_ARGUMENT",
        "REQUIRED_FIELD_MISSING",
    ]
    assert org.retrieve("Account", existing, ["Name"], V)["Name"] == "New name"
    with pytest.raises(ApiError) as info:
        org.upsert_many("Account", "Nope__c", [acc("x")], all_or_none=False)
    assert info.value.status == 404


def test_idempotent_upserts(org: Org) -> None:
    batch = [acc(f"N{i}", ERP_Id__c=f"K-{i}") for i in range(50)]
    first = org.upsert_many("Account", "ERP_Id__c", batch, all_or_none=True)
    second = org.upsert_many("Account", "ERP_Id__c", batch, all_or_none=True)
    assert all(r.created for r in first) and not any(r.created for r in second)
    assert [r.id for r in first] == [r.id for r in second]
    assert len(q(org, "SELECT Id FROM Account")) == 50


def test_retrieve_many(org: Org) -> None:
    a = org.create("Account", {"Name": "A", "Phone": "1"})
    b = org.create("Account", {"Name": "B"})
    org.delete("Account", b)
    out = org.retrieve_many("Account", [a, b, "garbage", a[:15]], ["Name", "phone"], V)
    assert out[1] is None and out[2] is None
    assert (
        out[0]
        == out[3]
        == {
            "attributes": {"type": "Account", "url": f"/services/data/v{V}/sobjects/Account/{a}"},
            "Name": "A",
            "Phone": "1",
        }
    )
    with pytest.raises(ApiError) as info:
        org.retrieve_many("Account", [a], ["Nope"], V)
    assert info.value.error_code == "INVALID_FIELD"


def test_delete_undelete_and_recycle_bin(org: Org) -> None:
    a = org.create("Account", {"Name": "A", "ERP_Id__c": "R-1"})
    contact = org.create("Contact", {"LastName": "D", "AccountId": a})
    results = org.delete_many([a, a, "garbage"], all_or_none=False)
    assert results[0].success and results[0].id == a
    assert results[1].errors[0]["statusCode"] == "ENTITY_IS_DELETED"
    assert results[2].errors[0]["statusCode"] == "MALFORMED_ID"
    # Hidden from query, visible to queryAll; the contact went with its account.
    assert q(org, "SELECT Id FROM Account") == []
    deleted = q(org, "SELECT Id, IsDeleted FROM Account", all_rows=True)
    assert deleted[0]["Id"] == a and deleted[0]["IsDeleted"] is True
    assert [r["Id"] for r in q(org, "SELECT Id FROM Contact", all_rows=True)] == [contact]
    # The external id is free while the record is in the recycle bin ...
    clash = org.create("Account", {"Name": "B", "ERP_Id__c": "R-1"})
    [blocked] = org.undelete([a])
    assert not blocked.success and blocked.errors[0]["statusCode"] == "DUPLICATE_VALUE"
    org.delete("Account", clash)
    [restored, again] = org.undelete([a, a])
    assert restored.success and not again.success
    assert again.errors[0]["statusCode"] == "UNDELETE_FAILED"
    assert [r["Id"] for r in q(org, "SELECT Id FROM Contact")] == [contact]
    # Emptying the recycle bin needs deleted records and removes them for good.
    [live] = org.empty_recycle_bin([a])
    assert not live.success
    org.delete("Account", a)
    [purged] = org.empty_recycle_bin([a])
    assert purged.success
    assert q(org, "SELECT Id FROM Account", all_rows=True) == [
        {
            "attributes": {
                "type": "Account",
                "url": f"/services/data/v{V}/sobjects/Account/{clash}",
            },
            "Id": clash,
        }
    ]
    assert q(org, "SELECT Id FROM Contact", all_rows=True) == []
    [gone] = org.undelete([a])
    assert not gone.success


def test_save_result_json() -> None:
    failed = SaveResult(None, False, [{"statusCode": "X", "message": "m", "fields": []}])
    assert failed.to_json(with_created=True) == {
        "id": None,
        "success": False,
        "errors": failed.errors,
        "created": False,
    }
