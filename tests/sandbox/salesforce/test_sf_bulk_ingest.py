"""Bulk API 2.0 ingest rows: per-row results, CSV conventions, whole-job failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sforg_helpers import V, make_org, q

from tandem.sandbox.salesforce import ApiError, BulkRowResult, Org


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    org = make_org(tmp_path / "org.db")
    yield org
    org.close()


def test_insert_with_errors(org: Org) -> None:
    results = org.bulk_ingest(
        "Account",
        "insert",
        None,
        [
            {"Name": "A", "NumberOfEmployees": "12", "Website": "", "AnnualRevenue": "10.5"},
            {"Name": "", "NumberOfEmployees": "", "Website": "", "AnnualRevenue": ""},
            {"Name": "C", "NumberOfEmployees": "many", "Website": "", "AnnualRevenue": ""},
            {"Name": "D" * 300, "NumberOfEmployees": "", "Website": "", "AnnualRevenue": ""},
        ],
    )
    assert results[0].error is None and results[0].created and results[0].id
    assert results[1] == BulkRowResult(
        None, False, "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    )
    assert results[2].error is not None
    assert results[2].error.startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert results[2].error.endswith(":NumberOfEmployees --")
    assert results[3].error is not None and results[3].error.startswith("STRING_TOO_LONG:")
    [rec] = q(org, "SELECT Name, NumberOfEmployees, AnnualRevenue, Website FROM Account")
    # AnnualRevenue has scale 0: rounded half up.
    assert (rec["NumberOfEmployees"], rec["AnnualRevenue"], rec["Website"]) == (12, 11.0, None)


def test_upsert_update_delete_hard_delete(org: Org) -> None:
    existing = org.create("Account", {"Name": "Old", "Phone": "1", "ERP_Id__c": "E-1"})
    results = org.bulk_ingest(
        "Account",
        "upsert",
        "ERP_Id__c",
        [
            {"ERP_Id__c": "E-1", "Name": "", "Phone": "#N/A"},
            {"ERP_Id__c": "E-2", "Name": "Two", "Phone": "2"},
            {"ERP_Id__c": "E-3", "Name": "Three", "Phone": ""},
            {"ERP_Id__c": "e-3", "Name": "Three again", "Phone": ""},
            {"ERP_Id__c": "", "Name": "No key", "Phone": ""},
        ],
    )
    assert results[0] == BulkRowResult(existing, False, None)
    assert results[1].created and results[1].error is None
    assert [r.error.split(":")[0] for r in results[2:] if r.error] == [
        "DUPLICATE_VALUE",
        "DUPLICATE_VALUE",
        "MISSING_ARGUMENT",
    ]
    old = org.retrieve("Account", existing, ["Name", "Phone"], V)
    assert (old["Name"], old["Phone"]) == ("Old", None)  # "" kept the name, #N/A nulled the phone
    two = results[1].id
    assert two is not None
    results = org.bulk_ingest(
        "Account",
        "update",
        None,
        [
            {"Id": two, "Name": "Two v2"},
            {"Id": "001000000000009AAA", "Name": "ghost"},
            {"Id": "", "Name": "no id"},
            {"Id": two[:15], "Name": "Two v3"},
        ],
    )
    assert results[0] == BulkRowResult(two, False, None)
    assert results[1].error is not None and results[1].error.startswith("NOT_FOUND:")
    assert results[1].id == "001000000000009AAA"
    assert results[2].error is not None and results[2].error.startswith("MALFORMED_ID:")
    assert results[3].error is None
    assert org.retrieve("Account", two, ["Name"], V)["Name"] == "Two v3"
    results = org.bulk_ingest("Account", "delete", None, [{"Id": two}, {"Id": two}])
    assert results[0].error is None and results[1].error is not None
    assert results[1].error.startswith("ENTITY_IS_DELETED:")
    assert len(q(org, "SELECT Id FROM Account", all_rows=True)) == 2
    results = org.bulk_ingest("Account", "hardDelete", None, [{"Id": existing}, {"Id": two}])
    assert all(r.error is None for r in results)
    assert q(org, "SELECT Id FROM Account", all_rows=True) == []


def test_parent_reference_columns(org: Org) -> None:
    acc = org.create("Account", {"Name": "Parent", "ERP_Id__c": "P-1"})
    results = org.bulk_ingest(
        "Contact",
        "upsert",
        "ERP_Id__c",
        [
            {"ERP_Id__c": "C-1", "LastName": "Doe", "Account.ERP_Id__c": "P-1"},
            {"ERP_Id__c": "C-2", "LastName": "Roe", "Account.ERP_Id__c": "P-404"},
            {"ERP_Id__c": "C-3", "LastName": "Poe", "Account.ERP_Id__c": ""},
        ],
    )
    assert results[0].error is None and results[2].error is None
    assert results[1].error is not None and results[1].error.startswith("INVALID_FIELD:")
    assert "P-404" in results[1].error
    rows = q(org, "SELECT LastName, AccountId FROM Contact ORDER BY LastName")
    assert [(r["LastName"], r["AccountId"]) for r in rows] == [("Doe", acc), ("Poe", None)]


@pytest.mark.parametrize(
    ("operation", "ext", "rows", "needle"),
    [
        ("insert", None, [{"Name": "A", "Colour__c": "red"}], "Field name not found : Colour__c"),
        ("insert", None, [{"Name": "A", "Nope.ERP_Id__c": "x"}], "Nope.ERP_Id__c"),
        ("update", None, [{"Name": "A"}], "Id is required"),
        ("upsert", "ERP_Id__c", [{"Name": "A"}], "ERP_Id__c is required"),
        ("delete", None, [{"Name": "A"}], "Id is required"),
    ],
)
def test_job_level_failures(
    org: Org, operation: str, ext: str | None, rows: list[dict[str, str]], needle: str
) -> None:
    with pytest.raises(ApiError) as info:
        org.bulk_ingest("Account", operation, ext, rows)  # type: ignore[arg-type]
    assert info.value.status == 400 and needle in info.value.message
    assert q(org, "SELECT Id FROM Account") == []
    with pytest.raises(ApiError) as not_found:
        org.bulk_ingest("Account", "upsert", "Nope__c", [{"Nope__c": "1"}])
    assert not_found.value.status == 404


def test_empty_job_and_short_lines(org: Org) -> None:
    assert org.bulk_ingest("Account", "insert", None, []) == []
    assert org.bulk_ingest("Account", "update", None, []) == []
    # csv.DictReader gives None for the cells a short line lacks.
    rows: list[dict[str, str]] = [{"Name": "A", "Phone": None}]  # type: ignore[dict-item]
    [result] = org.bulk_ingest("Account", "insert", None, rows)
    assert result.error is None


def test_line_items_roll_back_side_effects(org: Org) -> None:
    std = q(org, "SELECT Id FROM Pricebook2 WHERE IsStandard = true")[0]["Id"]
    product = org.create("Product2", {"Name": "W"})
    entry = org.create(
        "PricebookEntry", {"Pricebook2Id": std, "Product2Id": product, "UnitPrice": 5}
    )
    opp = org.create(
        "Opportunity", {"Name": "O", "StageName": "Prospecting", "CloseDate": "2024-01-01"}
    )
    # The row fails after the line logic tied the opportunity to the price book: undone.
    results = org.bulk_ingest(
        "OpportunityLineItem",
        "insert",
        None,
        [{"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": "1", "UnitPrice": ""}],
    )
    assert results[0].error is not None and "UnitPrice" in results[0].error
    assert org.retrieve("Opportunity", opp, ["Pricebook2Id"], V)["Pricebook2Id"] is None
