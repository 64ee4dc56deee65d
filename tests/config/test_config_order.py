"""Entity order (depends_on and refs), cycles, and the JSON Schema."""

from __future__ import annotations

import json

import pytest

from tandem.config import flow_json_schema, parse_flow
from tandem.errors import ConfigError

from .flows import BASE

EXTRA = """\
  product:
    model: product
    direction: erp_to_crm
    depends_on: [DEP]
    erp: {source: products, key: id}
    crm: {source: Product2, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: code, erp: sku, crm: ProductCode}
      - {field: name, erp: name, crm: Name}
"""


def test_refs_and_depends_on_order_entities() -> None:
    # contact (declared 2nd) refs customer; product depends on contact
    spec = parse_flow(BASE + EXTRA.replace("DEP", "contact"))
    assert [e.name for e in spec.ordered_entities()] == ["customer", "contact", "product"]
    reordered = BASE.replace("  customer:\n", "  zzz:\n", 1)  # just to prove refs matter
    with pytest.raises(ConfigError, match="unknown entity 'customer'"):
        parse_flow(reordered)


def test_declaration_order_is_kept_when_free() -> None:
    text = BASE.replace("ref: customer", "ref: contact")  # self-reference: no edge
    spec = parse_flow(text + EXTRA.replace("DEP", "customer"))
    assert [e.name for e in spec.ordered_entities()] == ["customer", "contact", "product"]


def test_dependency_on_a_later_entity_moves_it_first() -> None:
    text = BASE.replace("    match: [tax_id]\n", "    match: [tax_id]\n    depends_on: [product]\n")
    spec = parse_flow(text + EXTRA.replace("DEP", "customer").replace("[customer]", "[]"))
    assert [e.name for e in spec.ordered_entities()] == ["product", "customer", "contact"]


def test_cycle_is_a_config_error_with_its_path() -> None:
    text = BASE.replace("    match: [tax_id]\n", "    match: [tax_id]\n    depends_on: [product]\n")
    with pytest.raises(ConfigError) as info:
        parse_flow(text + EXTRA.replace("DEP", "contact"), file="f.yaml")
    message = str(info.value)
    assert "dependency cycle" in message
    assert "customer -> product -> contact -> customer" in message
    assert info.value.field == "entities.customer.depends_on"
    assert info.value.line is not None


def test_self_dependency_refused() -> None:
    text = BASE.replace(
        "    match: [tax_id]\n", "    match: [tax_id]\n    depends_on: [customer]\n"
    )
    with pytest.raises(ConfigError, match="cannot depend on itself"):
        parse_flow(text)


def test_json_schema_describes_the_spec() -> None:
    schema = flow_json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"version", "name", "connections", "entities"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"name", "connections", "entities"}
    defs = schema["$defs"]
    assert {"EntitySpec", "FieldSpec", "ValueMapSpec", "DeleteSpec", "Defaults"} <= set(defs)
    field_props = defs["FieldSpec"]["properties"]
    assert {"field", "erp", "crm", "erp_expr", "crm_expr", "value_map", "ref", "owner"} <= set(
        field_props
    )
    assert defs["EntitySpec"]["properties"]["direction"]["enum"] == [
        "erp_to_crm",
        "crm_to_erp",
        "both",
    ]
    json.dumps(schema)  # serialisable
