"""`tandem check` refuses a value every record would get that a restricted picklist does not
hold: a field's default, or the other side's expression when it names no field. Otherwise
every record would be dead-lettered at its first write."""

from __future__ import annotations

from tandem.config import parse_flow
from tandem.connectors.base import EntitySchema, FieldInfo
from tandem.mapping import check_binding

from .conftest import FLOW
from .test_mapping_schema import account as described_account

PICKLIST = ("Retail", "Wholesale")


def account() -> EntitySchema:
    """The mapping tests' Account, its ``Label__c`` a restricted picklist."""
    label = FieldInfo("Label__c", "picklist", picklist=PICKLIST, restricted_picklist=True)
    return described_account(Label__c=label)


def problems(label: str, currency: str = "default: EUR") -> list[str]:
    text = FLOW.replace("erp_expr: \"upper(name) + ' / ' + code\"", label)
    text = text.replace("default: EUR", currency)
    flow = parse_flow(text, file="mapping.yaml")
    return check_binding(flow.entity("customer"), "crm", account(), True, flow.value_maps)


def test_a_constant_expression_outside_the_picklist_is_refused() -> None:
    assert problems("erp_expr: \"'Hardware'\"") == [
        "crm Account: erp_expr gives 'Hardware' for every record, not in the restricted"
        " picklist Label__c"
    ]


def test_a_default_outside_the_picklist_is_refused() -> None:
    assert problems("erp_expr: \"'Retail'\"", currency="default: USD") == [
        "crm Account: the default gives 'USD' for every record without a value, not in the"
        " restricted picklist CurrencyIsoCode"
    ]


def test_constants_the_picklist_holds_and_expressions_over_fields_pass() -> None:
    assert problems("erp_expr: \"'Wholesale'\"") == []
    assert problems("erp_expr: \"coalesce(segment, 'Retail')\"") == []
