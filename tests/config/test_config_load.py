"""Loading flow specs: the shape, defaults, derived bindings, and errors with file:line:field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.config import (
    ContinuousSchedule,
    FlowSpec,
    IntervalSchedule,
    load_flow,
    parse_flow,
)
from tandem.connectors.base import EntityBinding
from tandem.errors import ConfigError

from .flows import BASE

EXAMPLE = Path(__file__).parents[2] / "examples" / "demo-flow.yaml"


def flow(text: str = BASE) -> FlowSpec:
    return parse_flow(text, file="flow.yaml")


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_flow(text, file="flow.yaml")
    return info.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_base_flow_loads_with_defaults() -> None:
    spec = flow()
    customer = spec.entity("customer")
    assert customer.name == "customer"
    assert customer.direction == "both"
    assert customer.batch_size == 200
    assert customer.conflict == "owner_wins"
    assert customer.delete.policy == "ignore"
    assert isinstance(customer.schedule, IntervalSchedule) and customer.schedule.seconds == 60
    assert spec.value_maps["countries"].pairs["NO"] == "Norway"


def test_defaults_section_applies_to_entities_that_do_not_override() -> None:
    text = BASE.replace(
        "value_maps:",
        "defaults:\n  batch_size: 50\n  schedule: {mode: continuous, poll_seconds: 0.5}\n"
        "  conflict: manual\nvalue_maps:",
    ).replace("    direction: erp_to_crm\n", "    direction: erp_to_crm\n    batch_size: 7\n")
    spec = flow(text)
    assert spec.entity("customer").batch_size == 50
    assert spec.entity("contact").batch_size == 7
    assert spec.defaults.initial_batch_size == spec.entity("contact").initial_batch_size == 10_000
    assert spec.entity("customer").conflict == "manual"
    assert isinstance(spec.entity("contact").schedule, ContinuousSchedule)


def test_a_loaded_spec_keeps_the_line_of_each_setting() -> None:
    text = BASE.replace(
        "value_maps:",
        "defaults:\n  delete: {policy: flag, erp_field: gone, crm_field: Gone__c}\nvalue_maps:",
    )
    spec = flow(text)
    assert spec.line_of(("entities", "customer", "fields", 1, "crm")) == line_of(text, "nip")
    # absent from the file: the nearest enclosing setting that is there
    crm_line = line_of(text, "crm: {source: Account")
    assert spec.line_of(("entities", "customer", "crm", "options")) == crm_line
    # inherited from defaults: the line under defaults
    flag = ("entities", "contact", "delete", "crm_field")
    assert spec.line_of(flag) == line_of(text, "Gone__c")
    assert FlowSpec.model_validate(spec.model_dump()).line_of(flag) is None  # not from YAML


def test_yaml_12_booleans_keep_country_codes() -> None:
    text = BASE.replace('"NO": Norway', "NO: Norway").replace(
        "value_maps:\n", "value_maps:\n  answers: {pairs: {yes: 1, no: 0, on: 2, off: 3}}\n"
    )
    spec = flow(text)
    assert spec.value_maps["countries"].pairs["NO"] == "Norway"
    assert list(spec.value_maps["answers"].pairs) == ["yes", "no", "on", "off"]


def test_duplicate_keys_are_refused() -> None:
    text = BASE.replace("    match: [email]\n", "    match: [email]\n    match: [last_name]\n")
    err = error(text)
    assert "duplicate key 'match'" in str(err)
    assert err.field == "entities.contact.match"
    assert err.line == line_of(text, "match: [last_name]")


def test_a_key_beside_a_merge_key_overrides_the_merged_one() -> None:
    from tandem.config.loader import read_yaml

    text = (
        "base: &b {source: deals, key: id, external_id: crm_id}\ncopy:\n  <<: *b\n  key: number\n"
    )
    data, lines = read_yaml(text, "f.yaml")
    assert data["copy"] == {"source": "deals", "key": "number", "external_id": "crm_id"}
    assert lines[("copy", "key")] == 4
    with pytest.raises(ConfigError, match="duplicate key 'key'") as info:
        read_yaml(text + "  key: again\n", "f.yaml")
    assert info.value.line == 5


def test_defaults_and_value_map_keys_are_validated_at_load() -> None:
    err = error(BASE.replace("crm: Email}", "crm: Email, default: not-an-email}"))
    assert err.field == "entities.contact.fields[1].default"
    assert "not a valid e-mail address" in str(err)
    err = error(BASE.replace("PL: Poland", "Polska: Poland"))
    assert err.field == "entities.customer.fields[2].value_map"
    assert "ERP value 'Polska' of value map countries is not a valid billing_address.country" in (
        str(err)
    )


def test_binding_lists_native_fields_including_expression_inputs() -> None:
    customer = flow().entity("customer")
    erp = customer.binding("erp")
    assert erp == EntityBinding(
        name="customer",
        source="customers",
        key="id",
        fields=("name", "nip", "country", "code"),
        external_id="crm_id",
        options={},
    )
    assert customer.binding("crm").fields == ("Name", "Tax_Id__c", "BillingCountry", "Label__c")


def test_archive_in_erp_adds_the_flag_field_to_the_binding() -> None:
    text = BASE.replace(
        "    match: [tax_id]\n",
        "    match: [tax_id]\n    delete: {policy: archive, erp_field: active}\n",
    )
    assert flow(text).entity("customer").binding("erp").fields[-1] == "active"


def test_owner_of_and_writable_fields() -> None:
    spec = flow()
    customer, contact = spec.entity("customer"), spec.entity("contact")
    assert customer.owner_of("name") == "crm"  # the entity's default owner
    assert customer.owner_of("tax_id") == "erp"
    assert customer.owner_of("x_label") == "erp"  # computed from ERP: one-way
    assert contact.owner_of("email") == "erp"
    assert [f.field for f in customer.writable_fields("erp")] == [
        "name",
        "billing_address.country",
    ]
    assert [f.field for f in customer.writable_fields("crm")] == ["tax_id", "x_label"]
    assert contact.writable_fields("erp") == []


def test_example_demo_flow_loads() -> None:
    spec = load_flow(EXAMPLE)
    names = [e.name for e in spec.ordered_entities()]
    assert set(names) == {
        "customer",
        "contact",
        "product_category",
        "product",
        "price_list",
        "price_list_entry",
    }
    assert names.index("customer") < names.index("contact")
    assert names.index("product") < names.index("price_list_entry")
    assert spec.entity("product").binding("crm").source == "Product2"
    assert spec.state_url() == f"sqlite:///{EXAMPLE.parent.resolve() / '.tandem' / 'state.db'}"


def test_unknown_setting_reports_its_line(tmp_path: Path) -> None:
    text = BASE.replace(
        "{field: email, erp: email, crm: Email}", "{field: email, erp: email, cmr: Email}"
    )
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_flow(path)
    err = info.value
    line = line_of(text, "cmr: Email")
    assert err.line == line == 30
    assert err.file == str(path)
    assert err.field == "entities.contact.fields[1].cmr"
    assert str(err).startswith(f"{path}:30: entities.contact.fields[1].cmr: unknown setting")


def test_bad_canonical_field_on_line_17() -> None:
    text = BASE.replace("    match: [tax_id]\n", "").replace(
        "{field: name, erp: name, crm: Name}", "{field: nmae, erp: name, crm: Name}"
    )
    assert text.splitlines()[16] == "      - {field: nmae, erp: name, crm: Name}"
    err = error(text)
    assert err.line == 17
    assert err.field == "entities.customer.fields[0].field"
    assert "customer has no field 'nmae'" in str(err)


def test_wrong_enum_value_names_field_and_line() -> None:
    text = BASE.replace("direction: erp_to_crm", "direction: sideways")
    err = error(text)
    assert err.line == line_of(text, "sideways")
    assert err.field == "entities.contact.direction"


def test_missing_required_setting() -> None:
    text = BASE.replace("    erp: {source: contacts, key: id, external_id: crm_id}\n", "")
    err = error(text)
    assert err.field == "entities.contact.erp"
    assert "required setting 'erp' is missing" in str(err)
    assert err.line == line_of(text, "  contact:")


def test_several_errors_are_all_listed() -> None:
    text = BASE.replace("crm: LastName}", "crm: LastName, colour: red}").replace(
        "model: customer", "model: customer\n    batch_size: 0"
    )
    err = error(text)
    assert str(err).count("also:") == 1
    assert "batch_size" in str(err) and "colour" in str(err)


def test_invalid_yaml_reports_line() -> None:
    text = BASE.replace("  crm:\n    type: salesforce", "  crm:\n    type: [salesforce")
    err = error(text)
    assert "invalid YAML" in str(err)
    assert err.line is not None and 5 <= err.line <= 8


def test_not_a_mapping_and_unreadable_file(tmp_path: Path) -> None:
    assert "YAML mapping" in str(error("- a\n- b\n"))
    with pytest.raises(ConfigError, match="cannot read flow spec"):
        load_flow(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("value_map: countries", "value_map: nations", "fields[2].value_map", "unknown value map"),
        ("ref: customer", "ref: account", "fields[2].ref", "unknown entity 'account'"),
        ("match: [email]", "match: [email, phone]", "match[1]", "not a mapped field"),
        ("match: [tax_id]", "match: [name]", "match", "names alone are too weak"),
        ("crm: Tax_Id__c, owner: erp", "crm: Tax_Id__c, owner: both, erp_expr: nip", "", "either"),
        ("crm: Email}", "crm: Email, owner: crm}", "fields[1].owner", "contradicts direction"),
        (
            "{field: x_label, erp_expr: \"upper(name) + ' / ' + code\", crm: Label__c}",
            '{field: x_label, erp_expr: "name", crm: Label__c, owner: crm}',
            "fields[3].erp_expr",
            "one-way",
        ),
        (
            "{field: x_label, erp_expr: \"upper(name) + ' / ' + code\", crm: Label__c}",
            '{field: x_label, erp_expr: "open(name)", crm: Label__c}',
            "fields[3].erp_expr",
            "function 'open' is not allowed",
        ),
        (
            "{field: name, erp: name, crm: Name}",
            "{field: name, erp: name, crm: Name}\n      - {field: name, erp: n2, crm: N2}",
            "fields[1].field",
            "mapped twice",
        ),
        (
            "{field: name, erp: name, crm: Name}",
            "{field: name, crm: Name, owner: both}",
            "fields[0].erp",
            "needs a native erp field",
        ),
        (
            "{field: name, erp: name, crm: Name}",
            "{field: name}",
            "fields[0]",
            "native field, an expression or a default",
        ),
        (
            "{field: name, erp: name, crm: Name}",
            "{field: billing_address, erp: a, crm: B}",
            "fields[0].field",
            "has sub-fields",
        ),
        ("model: customer", "model: client", "model", "unknown canonical model"),
    ],
)
def test_semantic_errors_name_the_setting(old: str, new: str, field: str, message: str) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    err = error(text)
    assert message in str(err)
    assert err.field is not None and err.field.endswith(field)
    assert err.line is not None


def test_value_map_must_be_reversible() -> None:
    text = BASE.replace('"NO": Norway', '"NO": Norway, XN: Norway')
    err = error(text)
    assert err.field == "value_maps.countries.pairs.XN"
    assert "ambiguous" in str(err)
    assert err.line == line_of(text, "XN: Norway")


def test_connections_erp_and_crm_required() -> None:
    text = BASE.replace("  erp: {type: sql", "  erp2: {type: sql")
    assert "a flow needs a connection named erp" in str(error(text))


def test_delete_flag_needs_fields() -> None:
    text = BASE.replace("    match: [email]\n", "    match: [email]\n    delete: {policy: flag}\n")
    err = error(text)
    assert err.field == "entities.contact.delete.crm_field"
    assert err.line == line_of(text, "delete: {policy: flag}")


def test_money_needs_currency_mapping() -> None:
    text = BASE + (
        "  price:\n"
        "    model: price_list_entry\n"
        "    direction: erp_to_crm\n"
        "    erp: {source: prices, key: id}\n"
        "    crm: {source: PricebookEntry, key: Id, external_id: ERP_Id__c}\n"
        "    fields:\n"
        "      - {field: unit_price.amount, erp: price, crm: UnitPrice}\n"
    )
    err = error(text)
    assert "money always travels with its currency" in str(err)
    assert err.line == len(text.splitlines())
    fixed = text + "      - {field: unit_price.currency, crm: CurrencyIsoCode, default: EUR}\n"
    assert flow(fixed).entity("price").owner_of("unit_price.currency") == "erp"


def test_create_fields_seed_every_native_field_on_writable_sides() -> None:
    spec = flow()
    customer, contact = spec.entity("customer"), spec.entity("contact")
    assert [f.field for f in customer.create_fields("crm")] == [
        "name",
        "tax_id",
        "billing_address.country",
        "x_label",
    ]
    assert contact.create_fields("erp") == []  # erp_to_crm: never written in the ERP
    assert contact.writes_to("crm") and not contact.writes_to("erp")


def test_public_api_is_importable() -> None:
    import tandem.config
    import tandem.mapping
    import tandem.model

    for module in (tandem.config, tandem.mapping, tandem.model):
        assert sorted(module.__all__, key=str.lower) == sorted(set(module.__all__), key=str.lower)
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_a_match_on_a_name_under_another_canonical_name_is_refused() -> None:
    """``tax_id`` read from the CRM's ``Name``: records would be linked by their names all the
    same, so the rule looks at the native fields a match field maps too."""
    text = BASE.replace(
        "{field: tax_id, erp: nip, crm: Tax_Id__c", "{field: tax_id, erp: nip, crm: Name"
    )
    text = text.replace("{field: name, erp: name, crm: Name}", "{field: name, erp: name}")
    with pytest.raises(ConfigError, match="names alone are too weak"):
        flow(text)


@pytest.mark.parametrize("name", ['""', '"two words"', '"nul\\0"', "x" * 101])
def test_an_entity_name_the_store_and_commands_cannot_carry_is_refused(name: str) -> None:
    text = BASE.replace("  contact:\n", f"  {name}:\n")
    with pytest.raises(ConfigError, match="letters, digits"):
        flow(text)
