"""Single-record REST semantics of the org: CRUD, validation errors, upsert, derived fields."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sforg_helpers import FakeClock, V, make_org, q, standard_pricebook

from tandem.sandbox.salesforce import ApiError, MultipleMatches, Org


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def org(tmp_path: Path, clock: FakeClock) -> Iterator[Org]:
    org = make_org(tmp_path / "org.db", clock=clock)
    yield org
    org.close()


def error_of(call: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        call(*args)
    return info.value


def test_create_retrieve_update_delete(org: Org, clock: FakeClock) -> None:
    acc = org.create("Account", {"Name": "Acme", "BillingCity": "Berlin", "NumberOfEmployees": 5})
    assert len(acc) == 18 and acc.startswith("001")
    rec = org.retrieve("Account", acc, None, V)
    assert rec["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v{V}/sobjects/Account/{acc}",
    }
    assert rec["Name"] == "Acme" and rec["NumberOfEmployees"] == 5 and rec["IsDeleted"] is False
    assert rec["CreatedDate"] == "2024-05-01T10:00:00.000+0000" == rec["SystemModstamp"]
    assert rec["OwnerId"] == org.integration_user_id == rec["CreatedById"]
    assert org.integration_user_id.startswith("005") and org.org_id.startswith("00D")
    # 15-character ids are accepted; fields are case-insensitive and come back in schema spelling.
    short = org.retrieve("account", acc[:15], ["name", "BILLINGCITY"], V)
    assert list(short) == ["attributes", "Name", "BillingCity"]
    clock.advance(minutes=5)
    org.update("Account", acc, {"Phone": "+49 30 1", "BillingCity": None})
    rec = org.retrieve("Account", acc, None, V)
    assert rec["Phone"] == "+49 30 1" and rec["BillingCity"] is None
    assert rec["SystemModstamp"] == "2024-05-01T10:05:00.000+0000" == rec["LastModifiedDate"]
    assert rec["CreatedDate"] == "2024-05-01T10:00:00.000+0000"
    org.delete("Account", acc)
    err = error_of(org.retrieve, "Account", acc, None, V)
    assert (err.status, err.error_code) == (404, "ENTITY_IS_DELETED")
    err = error_of(org.delete, "Account", acc)
    assert (err.status, err.error_code) == (404, "ENTITY_IS_DELETED")
    err = error_of(org.update, "Account", acc, {"Name": "x"})
    assert (err.status, err.error_code) == (404, "ENTITY_IS_DELETED")


def test_not_found_and_malformed_ids(org: Org) -> None:
    err = error_of(org.retrieve, "Account", "001000000000000AAA", None, V)
    assert (err.status, err.error_code) == (404, "NOT_FOUND")
    err = error_of(org.retrieve, "Account", "not-an-id", None, V)
    assert err.status == 404 and "not-an-id" in err.message
    contact = org.create("Contact", {"LastName": "Doe"})
    err = error_of(org.retrieve, "Account", contact, None, V)  # right shape, wrong object
    assert err.status == 404
    err = error_of(org.create, "Nope__c", {})
    assert (err.status, err.error_code) == (404, "NOT_FOUND")
    acc = org.create("Account", {"Name": "A"})
    err = error_of(org.retrieve, "Account", acc, ["Nope"], V)
    assert (err.status, err.error_code) == (400, "INVALID_FIELD")
    assert "No such column 'Nope' on entity 'Account'" in err.message


@pytest.mark.parametrize(
    ("sobject", "values", "code", "fields", "text"),
    [
        (
            "Account",
            {"BillingCity": "x"},
            "REQUIRED_FIELD_MISSING",
            ["Name"],
            "Required fields are missing: [Name]",
        ),
        (
            "Opportunity",
            {"Name": "o"},
            "REQUIRED_FIELD_MISSING",
            ["StageName", "CloseDate"],
            "[StageName, CloseDate]",
        ),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"], "max length=255"),
        (
            "Opportunity",
            {"Name": "o", "StageName": "Dreaming", "CloseDate": "2024-01-01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["StageName"],
            "bad value for restricted picklist field: Dreaming",
        ),
        (
            "Contact",
            {"LastName": "D", "Email": "not-an-email"},
            "INVALID_EMAIL_ADDRESS",
            ["Email"],
            "invalid email address: not-an-email",
        ),
        (
            "Account",
            {"Name": "A", "NumberOfEmployees": "many"},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ["NumberOfEmployees"],
            "value not of required type: many",
        ),
        (
            "Account",
            {"Name": "A", "NumberOfEmployees": 1.5},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ["NumberOfEmployees"],
            "1.5",
        ),
        (
            "Account",
            {"Name": "A", "AnnualRevenue": True},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ["AnnualRevenue"],
            "True",
        ),
        (
            "Opportunity",
            {"Name": "o", "StageName": "Prospecting", "CloseDate": "01/02/2024"},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ["CloseDate"],
            "01/02/2024",
        ),
        (
            "Product2",
            {"Name": "P", "IsActive": "yes"},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ["IsActive"],
            "yes",
        ),
        (
            "Account",
            {"Name": "A", "AnnualRevenue": 1e20},
            "NUMBER_OUTSIDE_VALID_RANGE",
            ["AnnualRevenue"],
            "valid range",
        ),
        (
            "Account",
            {"Name": "A", "ParentId": "garbage"},
            "MALFORMED_ID",
            ["ParentId"],
            "id value of incorrect type: garbage",
        ),
        (
            "Account",
            {"Name": "A", "ParentId": "001000000000009AAA"},
            "INVALID_CROSS_REFERENCE_KEY",
            ["ParentId"],
            "invalid cross reference id",
        ),
        (
            "Account",
            {"Name": "A", "Foo": 1},
            "INVALID_FIELD",
            ["Foo"],
            "No such column 'Foo' on sobject of type Account",
        ),
        (
            "Account",
            {"Name": "A", "CreatedDate": "2024-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["CreatedDate"],
            "Unable to create/update fields",
        ),
        (
            "Account",
            {"Name": "A", "Id": "001000000000009AAA"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["Id"],
            "cannot specify Id in an insert call",
        ),
        (
            "Contact",
            {"LastName": "D", "Name": "Full"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["Name"],
            "Name",
        ),
        (
            "Account",
            {"Name": "A", "OwnerId": None},
            "REQUIRED_FIELD_MISSING",
            ["OwnerId"],
            "OwnerId",
        ),
    ],
)
def test_validation_errors(
    org: Org, sobject: str, values: dict[str, Any], code: str, fields: list[str], text: str
) -> None:
    err = error_of(org.create, sobject, values)
    assert (err.status, err.error_code, err.fields) == (400, code, fields)
    assert text in err.message
    assert err.to_json() == [{"message": err.message, "errorCode": code, "fields": fields}]
    written = org.query(
        f"SELECT COUNT() FROM {sobject}", include_deleted=True, batch_size=2000, api_version=V
    )
    assert written.total_size == 0


def test_empty_text_is_null(org: Org) -> None:
    acc = org.create("Account", {"Name": "A", "Phone": ""})
    assert org.retrieve("Account", acc, ["Phone"], V)["Phone"] is None
    err = error_of(org.update, "Account", acc, {"Name": ""})
    assert (err.error_code, err.fields) == ("REQUIRED_FIELD_MISSING", ["Name"])


def test_reference_to_wrong_object_and_owner(org: Org) -> None:
    contact = org.create("Contact", {"LastName": "D"})
    err = error_of(org.create, "Account", {"Name": "A", "ParentId": contact})
    assert err.error_code == "INVALID_CROSS_REFERENCE_KEY" and contact in err.message
    parent = org.create("Account", {"Name": "Parent"})
    child = org.create("Account", {"Name": "Child", "ParentId": parent[:15]})
    assert org.retrieve("Account", child, ["ParentId"], V)["ParentId"] == parent
    org.delete("Account", parent)
    err = error_of(org.update, "Account", child, {"ParentId": parent})
    assert err.error_code == "INVALID_CROSS_REFERENCE_KEY"  # deleted parents cannot be linked


def test_datetime_inputs_normalised(org: Org) -> None:
    inv_acc = org.create("Account", {"Name": "A"})
    values = {"Account__c": inv_acc, "Invoice_Date__c": "2024-05-01"}
    for text, expected in [
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000+0000"),
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00.000+0000"),
        ("2024-05-01T10:00:00.123+0000", "2024-05-01T10:00:00.123+0000"),
        ("2024-05-01T05:30:00.5-0430", "2024-05-01T10:00:00.500+0000"),
    ]:
        rid = org.create("Invoice__c", {**values, "Posted_At__c": text})
        assert org.retrieve("Invoice__c", rid, ["Posted_At__c"], V)["Posted_At__c"] == expected
    err = error_of(org.create, "Invoice__c", {**values, "Posted_At__c": "yesterday"})
    assert err.error_code == "INVALID_TYPE_ON_FIELD_IN_RECORD"


def test_unique_external_id(org: Org) -> None:
    first = org.create("Account", {"Name": "A", "ERP_Id__c": "E-1"})
    err = error_of(org.create, "Account", {"Name": "B", "ERP_Id__c": "e-1"})  # case-insensitive
    assert err.error_code == "DUPLICATE_VALUE" and err.fields == ["ERP_Id__c"]
    assert err.message == (
        f"duplicate value found: ERP_Id__c duplicates value on record with id: {first}"
    )
    org.delete("Account", first)  # the recycle bin does not hold the value
    second = org.create("Account", {"Name": "B", "ERP_Id__c": "E-1"})
    assert second != first


def test_upsert_semantics(org: Org) -> None:
    rid, created = org.upsert("Account", "ERP_Id__c", "E-9", {"Name": "Nine"})
    assert created and org.retrieve("Account", rid, ["ERP_Id__c"], V)["ERP_Id__c"] == "E-9"
    again, created = org.upsert("Account", "erp_id__c", "e-9", {"Name": "Nine v2"})
    assert (again, created) == (rid, False)
    assert org.retrieve("Account", rid, ["Name"], V)["Name"] == "Nine v2"
    err = error_of(org.upsert, "Account", "Nope__c", "x", {"Name": "N"})
    assert (err.status, err.error_code) == (404, "NOT_FOUND")
    err = error_of(org.upsert, "Account", "Name", "x", {"Name": "N"})  # not an external id
    assert err.status == 404
    err = error_of(org.upsert, "Account", "ERP_Id__c", "E-10", {})  # insert needs Name
    assert (err.status, err.error_code) == (400, "REQUIRED_FIELD_MISSING")
    by_ext = org.retrieve_by_external_id("Account", "ERP_Id__c", "E-9", ["Name"], V)
    assert by_ext["Name"] == "Nine v2"
    err = error_of(org.retrieve_by_external_id, "Account", "ERP_Id__c", "E-404", None, V)
    assert (err.status, err.error_code) == (404, "NOT_FOUND")
    err = error_of(
        lambda: org.upsert("Account", "ERP_Id__c", "E-11", {"Name": "N"}, update_only=True)
    )
    assert (err.status, err.error_code) == (404, "NOT_FOUND")
    assert org.upsert("Account", "ERP_Id__c", "E-9", {"Phone": "2"}, update_only=True) == (
        rid,
        False,
    )
    # Upsert on Id: an existing id updates, an unknown id is NOT_FOUND.
    assert org.upsert("Account", "Id", rid, {"Phone": "1"}) == (rid, False)
    err = error_of(org.upsert, "Account", "Id", "001000000000009AAA", {"Name": "x"})
    assert (err.status, err.error_code) == (404, "NOT_FOUND")


def test_upsert_multiple_matches(tmp_path: Path) -> None:
    extra = tmp_path / "legacy.yaml"
    extra.write_text(
        "objects:\n  Account:\n    fields:\n"
        "      Legacy__c: {type: string, length: 20, externalId: true}\n"
    )
    from tandem.sandbox.salesforce import Schema

    org = Org(tmp_path / "m.db", Schema.load([extra]))
    a = org.create("Account", {"Name": "A", "Legacy__c": "L"})
    b = org.create("Account", {"Name": "B", "Legacy__c": "L"})
    with pytest.raises(MultipleMatches) as info:
        org.upsert("Account", "Legacy__c", "L", {"Name": "C"})
    assert info.value.status == 300
    assert info.value.matches == [
        f"/services/data/v59.0/sobjects/Account/{a}",
        f"/services/data/v59.0/sobjects/Account/{b}",
    ]
    with pytest.raises(MultipleMatches):
        org.retrieve_by_external_id("Account", "Legacy__c", "L", None, V)
    [result] = org.upsert_many("Account", "Legacy__c", [{"Legacy__c": "l", "Name": "C"}], False)
    assert result.errors == [
        {
            "statusCode": "DUPLICATE_EXTERNAL_ID",
            "message": f"Legacy: more than one record found for external id field: [{a}, {b}]",
            "fields": ["Legacy__c"],
        }
    ]
    org.close()


def test_parent_by_external_id(org: Org) -> None:
    acc = org.create("Account", {"Name": "A", "ERP_Id__c": "C-1"})
    contact = org.create("Contact", {"LastName": "D", "Account": {"ERP_Id__c": "C-1"}})
    assert org.retrieve("Contact", contact, ["AccountId"], V)["AccountId"] == acc
    err = error_of(org.create, "Contact", {"LastName": "D", "Account": {"ERP_Id__c": "C-404"}})
    assert err.error_code == "INVALID_FIELD" and "C-404" in err.message


def test_contact_name_and_opportunity_stage(org: Org) -> None:
    contact = org.create("Contact", {"FirstName": "Ada", "LastName": "Lovelace"})
    assert org.retrieve("Contact", contact, ["Name"], V)["Name"] == "Ada Lovelace"
    org.update("Contact", contact, {"FirstName": None})
    assert org.retrieve("Contact", contact, ["Name"], V)["Name"] == "Lovelace"
    opp = org.create(
        "Opportunity",
        {
            "Name": "Deal",
            "StageName": "Value Proposition",
            "CloseDate": "2024-06-30",
            "Amount": 1000,
        },
    )
    fields = [
        "Probability",
        "IsClosed",
        "IsWon",
        "ForecastCategoryName",
        "ForecastCategory",
        "ExpectedRevenue",
    ]
    rec = org.retrieve("Opportunity", opp, fields, V)
    assert (rec["Probability"], rec["IsClosed"], rec["IsWon"]) == (50.0, False, False)
    assert (rec["ForecastCategoryName"], rec["ForecastCategory"]) == ("Pipeline", "Pipeline")
    assert rec["ExpectedRevenue"] == 500.0
    org.update("Opportunity", opp, {"StageName": "Closed Won"})
    rec = org.retrieve("Opportunity", opp, fields, V)
    assert (rec["Probability"], rec["IsClosed"], rec["IsWon"]) == (100.0, True, True)
    assert rec["ForecastCategory"] == "Closed"
    # A probability given with the stage wins; the stage still sets IsClosed/IsWon.
    org.update("Opportunity", opp, {"StageName": "Closed Lost", "Probability": 5})
    rec = org.retrieve("Opportunity", opp, fields, V)
    assert (rec["Probability"], rec["IsClosed"], rec["IsWon"]) == (5.0, True, False)
    err = error_of(org.update, "Opportunity", opp, {"IsWon": True})
    assert err.error_code == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_price_books_and_line_items(org: Org) -> None:
    std = standard_pricebook(org)
    custom_book = org.create("Pricebook2", {"Name": "EU", "IsActive": True})
    product = org.create("Product2", {"Name": "Widget", "ProductCode": "W-1", "IsActive": True})
    err = error_of(
        org.create,
        "PricebookEntry",
        {"Pricebook2Id": custom_book, "Product2Id": product, "UnitPrice": 9},
    )
    assert err.error_code == "STANDARD_PRICE_NOT_DEFINED"
    std_entry = org.create(
        "PricebookEntry", {"Pricebook2Id": std, "Product2Id": product, "UnitPrice": 10}
    )
    err = error_of(
        org.create, "PricebookEntry", {"Pricebook2Id": std, "Product2Id": product, "UnitPrice": 11}
    )
    assert err.error_code == "DUPLICATE_VALUE"
    eu_entry = org.create(
        "PricebookEntry", {"Pricebook2Id": custom_book, "Product2Id": product, "UnitPrice": 9}
    )
    assert org.retrieve("PricebookEntry", eu_entry, ["Name"], V)["Name"] == "Widget"
    opp = org.create(
        "Opportunity", {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-06-30"}
    )
    line = org.create(
        "OpportunityLineItem",
        {"OpportunityId": opp, "PricebookEntryId": std_entry, "Quantity": 3, "UnitPrice": 12.5},
    )
    rec = org.retrieve("OpportunityLineItem", line, None, V)
    assert (rec["TotalPrice"], rec["ListPrice"], rec["Product2Id"]) == (37.5, 10.0, product)
    assert rec["ProductCode"] == "W-1"
    opp_rec = org.retrieve(
        "Opportunity", opp, ["Amount", "Pricebook2Id", "HasOpportunityLineItem"], V
    )
    assert opp_rec == {
        **opp_rec,
        "Amount": 37.5,
        "Pricebook2Id": std,
        "HasOpportunityLineItem": True,
    }
    # The opportunity is now tied to the standard book: an entry of another book is refused.
    err = error_of(
        org.create,
        "OpportunityLineItem",
        {"OpportunityId": opp, "PricebookEntryId": eu_entry, "Quantity": 1, "UnitPrice": 1},
    )
    assert err.error_code == "FIELD_INTEGRITY_EXCEPTION"
    # TotalPrice alone derives UnitPrice; both at once are refused.
    second = org.create(
        "OpportunityLineItem",
        {"OpportunityId": opp, "PricebookEntryId": std_entry, "Quantity": 4, "TotalPrice": 100},
    )
    assert org.retrieve("OpportunityLineItem", second, ["UnitPrice"], V)["UnitPrice"] == 25.0
    assert org.retrieve("Opportunity", opp, ["Amount"], V)["Amount"] == 137.5
    err = error_of(
        org.create,
        "OpportunityLineItem",
        {
            "OpportunityId": opp,
            "PricebookEntryId": std_entry,
            "Quantity": 1,
            "UnitPrice": 1,
            "TotalPrice": 1,
        },
    )
    assert err.error_code == "FIELD_INTEGRITY_EXCEPTION"
    org.delete("OpportunityLineItem", second)
    assert org.retrieve("Opportunity", opp, ["Amount"], V)["Amount"] == 37.5
    # Deleting the opportunity cascades to its lines; undelete brings them back.
    org.delete("Opportunity", opp)
    assert q(org, "SELECT Id FROM OpportunityLineItem") == []
    [alone] = org.undelete([line])  # deleted with its parent: comes back only with it
    assert not alone.success and alone.errors[0]["statusCode"] == "UNDELETE_FAILED"
    [result] = org.undelete([opp])
    assert result.success
    assert [r["Id"] for r in q(org, "SELECT Id FROM OpportunityLineItem")] == [line]


def test_orders_quotes_and_auto_numbers(org: Org, clock: FakeClock) -> None:
    std = standard_pricebook(org)
    acc = org.create("Account", {"Name": "A"})
    product = org.create("Product2", {"Name": "Widget"})
    entry = org.create(
        "PricebookEntry", {"Pricebook2Id": std, "Product2Id": product, "UnitPrice": 10}
    )
    order = org.create("Order", {"AccountId": acc, "EffectiveDate": "2024-05-01"})
    other = org.create("Order", {"AccountId": acc, "EffectiveDate": "2024-05-02"})
    rec = org.retrieve("Order", order, ["Status", "StatusCode", "OrderNumber", "ActivatedDate"], V)
    assert (rec["Status"], rec["StatusCode"], rec["ActivatedDate"]) == ("Draft", "Draft", None)
    assert rec["OrderNumber"] == "00000001"
    assert org.retrieve("Order", other, ["OrderNumber"], V)["OrderNumber"] == "00000002"
    org.create(
        "OrderItem", {"OrderId": order, "PricebookEntryId": entry, "Quantity": 2, "UnitPrice": 8}
    )
    clock.advance(hours=1)
    org.update("Order", order, {"Status": "Activated"})
    rec = org.retrieve(
        "Order", order, ["StatusCode", "ActivatedDate", "TotalAmount", "Pricebook2Id"], V
    )
    assert rec["StatusCode"] == "Activated" and rec["TotalAmount"] == 16.0
    assert rec["ActivatedDate"] == "2024-05-01T11:00:00.000+0000" and rec["Pricebook2Id"] == std
    other_acc = org.create("Account", {"Name": "Other"})
    err = error_of(org.update, "Order", order, {"AccountId": other_acc})
    assert err.error_code == "FIELD_INTEGRITY_EXCEPTION" and err.fields == ["AccountId"]
    org.update("Order", other, {"AccountId": other_acc})  # a draft may move
    err = error_of(org.update, "Order", order, {"Status": "Shipped"})
    assert err.error_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    opp = org.create(
        "Opportunity",
        {"Name": "D", "StageName": "Prospecting", "CloseDate": "2024-06-30", "AccountId": acc},
    )
    quote = org.create("Quote", {"Name": "Q", "OpportunityId": opp, "Tax": 2})
    org.create(
        "QuoteLineItem",
        {
            "QuoteId": quote,
            "PricebookEntryId": entry,
            "Quantity": 3,
            "UnitPrice": 10,
            "Discount": 10,
        },
    )
    rec = org.retrieve(
        "Quote",
        quote,
        ["AccountId", "Status", "Subtotal", "TotalPrice", "GrandTotal", "QuoteNumber"],
        V,
    )
    assert rec["AccountId"] == acc and rec["Status"] == "Draft"
    assert (rec["Subtotal"], rec["TotalPrice"], rec["GrandTotal"]) == (30.0, 27.0, 29.0)
    assert rec["QuoteNumber"] == "00000001"
    invoice = org.create("Invoice__c", {"Account__c": acc, "Invoice_Date__c": "2024-05-01"})
    assert org.retrieve("Invoice__c", invoice, ["Name"], V)["Name"] == "INV-000001"


def test_read_only_objects(org: Org) -> None:
    err = error_of(org.create, "OpportunityStage", {"ApiName": "New"})
    assert err.status == 400
    stage = q(org, "SELECT Id FROM OpportunityStage LIMIT 1")[0]["Id"]
    [result] = org.delete_many([stage], False)
    assert (
        not result.success and result.errors[0]["statusCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    )


def test_updates_within_one_millisecond(org: Org) -> None:
    # The clock does not move: a second identical update must still succeed.
    acc = org.create("Account", {"Name": "A"})
    org.update("Account", acc, {"Name": "B"})
    org.update("Account", acc, {"Name": "B"})
    org.update("Account", acc, {})
    assert org.upsert("Account", "Id", acc, {"Name": "B"}) == (acc, False)
    assert org.retrieve("Account", acc, ["Name"], V)["Name"] == "B"


_json_values = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.text(max_size=300)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(["Account", "Contact", "Opportunity", "Order", "Invoice__c"]),
    st.dictionaries(
        st.sampled_from(
            [
                "Name",
                "LastName",
                "Email",
                "AnnualRevenue",
                "NumberOfEmployees",
                "CloseDate",
                "StageName",
                "AccountId",
                "IsWon",
                "Posted_At__c",
                "Amount__c",
                "Foo",
                "Account",
                "OwnerId",
                "Id",
                "attributes",
            ]
        ),
        _json_values,
        max_size=6,
    ),
)
def test_any_values_are_saved_or_refused_cleanly(
    org: Org, sobject: str, values: dict[str, Any]
) -> None:
    try:
        rid = org.create(sobject, values)
    except ApiError as exc:
        assert exc.status in (400, 404) and exc.error_code
    else:
        assert org.retrieve(sobject, rid, None, V)["Id"] == rid
