"""A numeric field's scale through the Salesforce describe and the saved descriptions."""

from __future__ import annotations

from typing import Any

from tandem.connectors.base import EntitySchema, FieldInfo
from tandem.connectors.salesforce.describe import (
    diff_schemas,
    field_info,
    to_schema,
)
from tandem.mapping.scale import native_scale
from tandem.pipeline.drift import compare, restore, summarise


def described(name: str, kind: str, **extra: Any) -> dict[str, Any]:
    """One field of a ``describe`` body, as Salesforce gives it (scale 0 on every non-number)."""
    return {"name": name, "type": kind, "precision": 0, "scale": 0, **extra}


DESCRIBE = {
    "name": "PricebookEntry",
    "fields": [
        described("Id", "id", nillable=False, createable=False, updateable=False),
        described("UnitPrice", "currency", precision=16, scale=2),
        described("Discount__c", "percent", precision=5, scale=2),
        described("Quantity__c", "double", precision=12, scale=3),
        described("Seats__c", "int", digits=9),
        described("Name", "string", length=80),
    ],
}


def test_the_describe_gives_each_number_field_its_scale() -> None:
    schema = to_schema(DESCRIBE)
    scales = {name: native_scale(info) for name, info in schema.fields.items()}
    assert scales == {
        "Id": None,
        "UnitPrice": 2,
        "Discount__c": 2,
        "Quantity__c": 3,
        "Seats__c": None,  # an integer needs no rounding
        "Name": None,
    }
    price = schema.fields["UnitPrice"]
    assert price.type == "currency" and price.scale == 2
    assert schema.fields["Name"].scale is None  # other fields as before
    assert native_scale(field_info(described("Amount", "currency", scale=None))) is None


def test_a_changed_scale_is_schema_drift() -> None:
    before = to_schema(DESCRIBE)
    fields = [described("UnitPrice", "currency", precision=16, scale=3)]
    after = to_schema({**DESCRIBE, "fields": [*DESCRIBE["fields"][:1], *fields]})
    notes = diff_schemas(before, after)
    assert "PricebookEntry.UnitPrice: scale changed from 2 to 3" in notes
    changes = compare(summarise(before), summarise(after), {"UnitPrice"})
    assert "field UnitPrice (mapped): scale 2 -> 3" in changes


def test_a_saved_description_keeps_the_scale() -> None:
    schema = to_schema(DESCRIBE)
    restored = restore("PricebookEntry", summarise(schema))
    assert restored == schema
    assert restored is not None and native_scale(restored.fields["UnitPrice"]) == 2


def test_a_description_saved_before_scales_were_kept_is_described_again() -> None:
    summary = summarise(to_schema(DESCRIBE))
    older = {
        name: {k: v for k, v in item.items() if k != "scale"} for name, item in summary.items()
    }
    assert restore("PricebookEntry", older) is None
    # and comparing with it is no drift of its own
    assert compare(older, summary, {"UnitPrice"}) == []


def test_a_plain_field_summarises_without_a_scale() -> None:
    schema = EntitySchema("Account", {"Name": FieldInfo("Name", "string", length=80)})
    assert summarise(schema)["Name"]["scale"] is None
    assert restore("Account", summarise(schema)) == schema
