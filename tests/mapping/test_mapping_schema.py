"""check_binding and validate_native against a described native schema."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tandem.config import FlowSpec
from tandem.connectors.base import EntitySchema, FieldInfo
from tandem.errors import MappingError
from tandem.mapping import Mapper, binding_problems, check_binding, validate_native


def account(**overrides: FieldInfo) -> EntitySchema:
    fields = {
        "Id": FieldInfo("Id", "id", nillable=False, createable=False, updateable=False),
        "Name": FieldInfo("Name", "string", nillable=False, length=255, required_on_create=True),
        "Tax_Id__c": FieldInfo("Tax_Id__c", "string", length=20),
        "Email__c": FieldInfo("Email__c", "email", length=80),
        "BillingCountry": FieldInfo("BillingCountry", "string", length=80),
        "Hold__c": FieldInfo("Hold__c", "boolean", nillable=False),
        "CurrencyIsoCode": FieldInfo(
            "CurrencyIsoCode", "picklist", picklist=("EUR", "PLN"), restricted_picklist=True
        ),
        "Label__c": FieldInfo("Label__c", "string", length=100),
        "Note__c": FieldInfo("Note__c", "text"),
        "ERP_Id__c": FieldInfo("ERP_Id__c", "string", length=40, external_id=True, unique=True),
    }
    fields.update(overrides)
    return EntitySchema("Account", fields)


def test_matching_schema_has_no_problems(flow: FlowSpec) -> None:
    customer = flow.entity("customer")
    assert check_binding(customer, "crm", account(), writes=True, value_maps=flow.value_maps) == []


def test_unknown_fields_are_listed(flow: FlowSpec) -> None:
    schema = account()
    fields = {k: v for k, v in schema.fields.items() if k not in ("Label__c", "ERP_Id__c")}
    problems = check_binding(flow.entity("customer"), "crm", EntitySchema("Account", fields), True)
    assert "crm Account: unknown field 'Label__c' (entity customer)" in problems
    assert "crm Account: unknown external-id field 'ERP_Id__c' (entity customer)" in problems


def test_each_problem_names_the_entity_setting_it_is_about(flow: FlowSpec) -> None:
    fields = {k: v for k, v in account().fields.items() if k not in ("Id", "Label__c", "ERP_Id__c")}
    fields["Email__c"] = FieldInfo("Email__c", "boolean")
    fields["Tax_Id__c"] = FieldInfo("Tax_Id__c", "string", createable=False, updateable=False)
    fields["Region__c"] = FieldInfo("Region__c", "string", required_on_create=True)
    schema = EntitySchema("Account", fields)
    found = binding_problems(flow.entity("customer"), "crm", schema, True, flow.value_maps)
    assert [(p.path, str(p)) for p in found] == [
        (("crm", "key"), "crm Account: unknown field 'Id' (entity customer)"),
        (("fields", 6, "crm"), "crm Account: unknown field 'Label__c' (entity customer)"),
        (
            ("crm", "external_id"),
            "crm Account: unknown external-id field 'ERP_Id__c' (entity customer)",
        ),
        (("fields", 2, "crm"), "crm Account: email is a str but Email__c is boolean"),
        (("fields", 1, "crm"), "crm Account: Tax_Id__c is read-only but Tandem writes tax_id"),
        (("crm",), "crm Account: Region__c is required to create a record but no field writes it"),
    ]
    erp = EntitySchema("customers", {"id": FieldInfo("id", "integer")})
    paths = {p.path for p in binding_problems(flow.entity("customer"), "erp", erp, False)}
    assert ("fields", 6, "erp_expr") in paths  # a name the ERP expression reads


def test_field_names_match_case_insensitively(flow: FlowSpec) -> None:
    schema = account()
    lowered = EntitySchema("Account", {k.lower(): v for k, v in schema.fields.items()})
    assert check_binding(flow.entity("customer"), "crm", lowered, writes=False) == []


def test_non_writable_fields_tandem_would_write(flow: FlowSpec) -> None:
    schema = account(
        Tax_Id__c=FieldInfo("Tax_Id__c", "string", createable=False, updateable=False),
        Label__c=FieldInfo("Label__c", "string", createable=False),
        Name=FieldInfo("Name", "string", updateable=False, required_on_create=True),
    )
    problems = check_binding(flow.entity("customer"), "crm", schema, writes=True)
    assert "crm Account: Tax_Id__c is read-only but Tandem writes tax_id" in problems
    assert "crm Account: Label__c cannot be set when creating a record" in problems
    assert len(problems) == 2
    assert check_binding(flow.entity("customer"), "crm", schema, writes=False) == []


def test_required_on_create_but_unmapped(flow: FlowSpec) -> None:
    schema = account(Region__c=FieldInfo("Region__c", "string", required_on_create=True))
    problems = check_binding(flow.entity("customer"), "crm", schema, writes=True)
    assert problems == [
        "crm Account: Region__c is required to create a record but no field writes it"
    ]


def test_value_map_targets_outside_restricted_picklist(flow: FlowSpec) -> None:
    schema = account(
        BillingCountry=FieldInfo(
            "BillingCountry", "picklist", picklist=("Poland",), restricted_picklist=True
        )
    )
    problems = Mapper(flow).check_binding("customer", "crm", schema, writes=True)
    assert problems == [
        "crm Account: value map countries can produce 'Germany', not in the restricted"
        " picklist BillingCountry"
    ]


def test_literal_choices_outside_restricted_picklist(flow: FlowSpec) -> None:
    erp_products = EntitySchema(
        "products",
        {
            "id": FieldInfo("id", "integer"),
            "crm_id": FieldInfo("crm_id", "string"),
            "sku": FieldInfo("sku", "string"),
            "name": FieldInfo("name", "string"),
            "kind": FieldInfo("kind", "picklist", picklist=("product",), restricted_picklist=True),
            "unit": FieldInfo("unit", "string"),
        },
    )
    problems = check_binding(flow.entity("product"), "erp", erp_products, True, flow.value_maps)
    assert problems == [
        "erp products: value map kinds can produce 'service', not in the restricted picklist kind"
    ]


@pytest.mark.parametrize(
    ("field", "info", "message"),
    [
        ("Hold__c", FieldInfo("Hold__c", "date"), None),  # value-mapped: not type-checked
        ("Email__c", FieldInfo("Email__c", "boolean"), "email is a str but Email__c is boolean"),
        ("Name", FieldInfo("Name", "datetime"), "name is a str but Name is datetime"),
    ],
)
def test_type_mismatches(flow: FlowSpec, field: str, info: FieldInfo, message: str | None) -> None:
    problems = check_binding(flow.entity("customer"), "crm", account(**{field: info}), False)
    assert problems == ([f"crm Account: {message}"] if message else [])


OPPORTUNITY_FLOW = """\
version: 1
name: types
connections: {erp: {type: sql}, crm: {type: salesforce}}
entities:
  customer:
    model: customer
    erp: {source: customers, key: id}
    crm: {source: Account, key: Id}
    fields: [{field: name, erp: name, crm: Name}]
  opportunity:
    model: opportunity
    direction: crm_to_erp
    erp: {source: deals, key: id}
    crm: {source: Opportunity, key: Id}
    fields:
      - {field: close_date, erp: closes, crm: IsClosed}
      - {field: customer, erp: customer_id, crm: AccountId, ref: customer}
"""


def test_date_mapped_to_boolean_is_a_mismatch() -> None:
    from tandem.config import parse_flow

    spec = parse_flow(OPPORTUNITY_FLOW).entity("opportunity")
    schema = EntitySchema(
        "Opportunity",
        {
            "Id": FieldInfo("Id", "id"),
            "IsClosed": FieldInfo("IsClosed", "boolean"),
            "AccountId": FieldInfo("AccountId", "date"),
        },
    )
    problems = check_binding(spec, "crm", schema, writes=False)
    assert problems == [
        "crm Opportunity: close_date is a date but IsClosed is boolean",
        "crm Opportunity: AccountId is date, it cannot hold a reference (customer)",
    ]


def test_external_id_must_be_writable(flow: FlowSpec) -> None:
    schema = account(ERP_Id__c=FieldInfo("ERP_Id__c", "string", updateable=False))
    problems = check_binding(flow.entity("customer"), "crm", schema, writes=True)
    assert problems == ["crm Account: external-id field ERP_Id__c is not writable"]


GOOD: dict[str, Any] = {"Name": "Acme", "Email__c": "a@b.co", "Hold__c": False}


def test_valid_record_passes() -> None:
    validate_native("42", GOOD, account(), creating=True)
    validate_native("42", {"CurrencyIsoCode": "PLN"}, account(), creating=False)


@pytest.mark.parametrize(
    ("values", "creating", "field", "message"),
    [
        ({"Name": "x" * 256}, False, "Name", "is 256 characters long, at most 255 allowed"),
        ({"CurrencyIsoCode": "USD"}, False, "CurrencyIsoCode", "not in the restricted picklist"),
        ({"Email__c": "nope@"}, False, "Email__c", "not a valid e-mail address"),
        ({"Hold__c": "yes"}, False, "Hold__c", "expected true or false"),
        ({"Name": None}, False, "Name", "may not be empty"),
        ({"Email__c": "a@b.co"}, True, "Name", "required to create a record"),
        ({"Name": ""}, True, "Name", "may not be empty"),
        ({"Nope__c": 1}, False, "Nope__c", "Account has no field Nope__c"),
        ({"Name": date(2024, 1, 1)}, False, "Name", "expected text"),
    ],
)
def test_refused_values(values: dict[str, Any], creating: bool, field: str, message: str) -> None:
    with pytest.raises(MappingError) as info:
        validate_native("42", values, account(), creating=creating)
    assert info.value.record == "42"
    assert info.value.field == field
    assert message in str(info.value)


def test_numeric_date_and_datetime_types() -> None:
    schema = EntitySchema(
        "X",
        {
            "Qty": FieldInfo("Qty", "integer"),
            "Amount": FieldInfo("Amount", "currency"),
            "On": FieldInfo("On", "date"),
            "At": FieldInfo("At", "datetime"),
            "Tags": FieldInfo(
                "Tags", "multipicklist", picklist=("a", "b"), restricted_picklist=True
            ),
        },
    )
    ok = {
        "Qty": Decimal("3.0"),
        "Amount": Decimal("1.5"),
        "On": date(2024, 1, 1),
        "At": datetime(2024, 1, 1, tzinfo=UTC),
        "Tags": "a;b",
    }
    validate_native("r", ok, schema, creating=True)
    for bad, message in [
        ({"Qty": 1.5}, "fraction"),
        ({"Qty": True}, "expected an integer"),
        ({"Amount": "1.5"}, "expected a number"),
        ({"On": datetime(2024, 1, 1, tzinfo=UTC)}, "expected a date"),
        ({"At": datetime(2024, 1, 1)}, "naive"),
        ({"At": "2024-01-01"}, "expected a datetime"),
        ({"Tags": "a;c"}, "'c' is not in the restricted picklist"),
    ]:
        with pytest.raises(MappingError, match=message):
            validate_native("r", bad, schema, creating=False)
