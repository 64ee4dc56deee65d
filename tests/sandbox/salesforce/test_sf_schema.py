"""Schema loading: the shipped objects, merging user YAML, and refusing bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sforg_helpers import EXAMPLE_SCHEMA, V, make_org

from tandem.errors import ConfigError
from tandem.sandbox.salesforce import Schema

PREFIXES = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Product2": "01t",
    "Pricebook2": "01s",
    "PricebookEntry": "01u",
    "OpportunityLineItem": "00k",
    "Quote": "0Q0",
    "QuoteLineItem": "0QL",
    "Order": "801",
    "OrderItem": "802",
    "User": "005",
}


def test_default_objects_and_prefixes() -> None:
    schema = Schema.load()
    for name, prefix in PREFIXES.items():
        obj = schema.get(name)
        assert obj is not None and obj.key_prefix == prefix
        assert schema.by_prefix(prefix) is obj
    account = schema.objects["Account"]
    for system in (
        "Id",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    ):
        f = account.field(system)
        assert f is not None and not f.updateable and not f.createable
    owner = account.field("OwnerId")
    assert owner is not None and owner.updateable and owner.reference_to == ["User"]
    ext = account.field("erp_id__c")  # case-insensitive lookup
    assert ext is not None and ext.name == "ERP_Id__c" and ext.unique and ext.external_id
    assert ext.length == 64
    for name in ("Contact", "Product2", "Pricebook2", "Order", "Quote", "Opportunity"):
        f = schema.objects[name].field("ERP_Id__c")
        assert f is not None and f.external_id
    assert schema.objects["Product2"].field("OwnerId") is None  # not an owned object
    stage = schema.objects["Opportunity"].field("StageName")
    assert stage is not None and stage.restricted and stage.required
    won = stage.picklist_value("Closed Won")
    assert won is not None and won.meta["won"] is True and won.meta["probability"] == 100
    contact_name = schema.objects["Contact"].field("Name")
    assert contact_name is not None and not contact_name.createable and contact_name.calculated
    assert schema.objects["Contact"].relationship("account") is not None


def test_merge_custom_objects_and_fields() -> None:
    schema = Schema.load([EXAMPLE_SCHEMA])
    invoice = schema.get("invoice__c")
    assert invoice is not None and invoice.custom and len(invoice.key_prefix) == 3
    assert invoice.key_prefix.startswith("a")
    assert invoice.field("Account__c") is not None
    assert invoice.relationship("Account__r") is not None
    # Custom prefixes are stable across loads and distinct.
    again = Schema.load([EXAMPLE_SCHEMA])
    assert again.objects["Invoice__c"].key_prefix == invoice.key_prefix
    assert invoice.key_prefix != schema.objects["Payment__c"].key_prefix
    tier = schema.objects["Account"].field("Tier__c")
    assert tier is not None and tier.restricted
    # The standard fields are still there after the merge.
    assert schema.objects["Account"].field("BillingCity") is not None
    children = {(c.name, f.name) for c, f in schema.child_relationships("Account")}
    assert ("Invoice__c", "Account__c") in children and ("Contact", "AccountId") in children


def test_custom_object_gets_a_name_field(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("objects:\n  Thing__c:\n    keyPrefix: a0T\n    fields: {}\n")
    thing = Schema.load([path]).objects["Thing__c"]
    assert thing.key_prefix == "a0T"
    name = thing.field("Name")
    assert name is not None and name.required


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("objects:\n  Thing:\n    fields: {}\n", "must end in __c"),
        ("objects:\n  Account:\n    fields:\n      Tier: {type: string}\n", "must end in __c"),
        ("objects:\n  A__c:\n    colour: red\n", "unknown key"),
        ("objects:\n  A__c:\n    fields:\n      B__c: {type: text}\n", "unknown field type"),
        ("objects:\n  A__c:\n    fields:\n      B__c: {type: string, size: 3}\n", "unknown key"),
        ("objects:\n  A__c:\n    fields:\n      B__c: {type: reference}\n", "needs referenceTo"),
        (
            "objects:\n  A__c:\n    fields:\n      B__c: {type: reference, referenceTo: [Nope]}\n",
            "unknown object",
        ),
        ("objects: [1, 2]\n", "'objects' mapping"),
        ("objects:\n  A__c: {fields: {B__c: {type: string}\n", "cannot read"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        Schema.load([path])
    assert needle in str(info.value)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Schema.load([tmp_path / "absent.yaml"])


def test_describe(tmp_path: Path) -> None:
    org = make_org(tmp_path / "org.db")
    world = org.describe_global(V)
    assert world["maxBatchSize"] == 200
    names = {o["name"]: o for o in world["sobjects"]}
    assert names["Account"]["keyPrefix"] == "001"
    assert names["Invoice__c"]["custom"] is True
    assert names["Account"]["urls"]["sobject"] == f"/services/data/v{V}/sobjects/Account"
    account = org.describe("account", V)
    fields = {f["name"]: f for f in account["fields"]}
    assert fields["Id"]["type"] == "id" and fields["Id"]["soapType"] == "tns:ID"
    assert fields["Name"]["nillable"] is False and fields["Name"]["length"] == 255
    assert fields["ERP_Id__c"]["externalId"] and fields["ERP_Id__c"]["custom"]
    assert fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["AnnualRevenue"]["type"] == "currency"
    industry = [p["value"] for p in fields["Industry"]["picklistValues"]]
    assert "Banking" in industry
    children = {c["childSObject"] for c in account["childRelationships"]}
    assert {"Contact", "Opportunity", "Invoice__c"} <= children
    assert account["recordTypeInfos"][0]["master"] is True
    opp = {f["name"]: f for f in org.describe("Opportunity", V)["fields"]}
    assert opp["IsWon"]["createable"] is False and opp["StageName"]["restrictedPicklist"]
    from tandem.sandbox.salesforce.errors import ApiError

    with pytest.raises(ApiError) as info:
        org.describe("Nope__c", V)
    assert info.value.status == 404 and info.value.error_code == "NOT_FOUND"
    org.close()
