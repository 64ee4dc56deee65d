"""The per-entity plans and per-schema checks give the answers of the field-by-field rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.config import FlowSpec, ValueMapSpec, parse_flow
from tandem.connectors.base import EntitySchema, FieldInfo
from tandem.errors import MappingError
from tandem.mapping import Mapper, NativeValidator, validate_native, values_equal
from tandem.mapping.schema import _refusal

from .conftest import FLOW, MemoryRefs

SCHEMA = EntitySchema(
    "Account",
    {
        "Name": FieldInfo("Name", "string", nillable=False, length=10, required_on_create=True),
        "Code__c": FieldInfo("Code__c", "string", required_on_create=True),
        "Email__c": FieldInfo("Email__c", "email", length=80),
        "Kind__c": FieldInfo(
            "Kind__c", "picklist", picklist=("Goods", "1"), restricted_picklist=True
        ),
        "Tags__c": FieldInfo(
            "Tags__c", "multipicklist", picklist=("a", "b"), restricted_picklist=True
        ),
        "Hold__c": FieldInfo("Hold__c", "boolean", nillable=False),
        "Size__c": FieldInfo("Size__c", "integer"),
    },
)


def outcome(check: Any) -> str:
    try:
        check()
    except MappingError as exc:
        return f"{exc} [{exc.record} {exc.field} {exc.value!r}]"
    return "ok"


RECORDS: list[tuple[dict[str, Any], bool]] = [
    ({"Name": "Acme", "Code__c": "A"}, True),
    ({"Name": "Acme"}, False),
    ({"Name": "Acme"}, True),  # Code__c required on create
    ({"name": "Acme", "CODE__C": "A"}, True),  # any spelling of a field
    ({"Name": "", "name": "Acme", "Code__c": "A"}, False),  # Name may not be empty
    ({"Code__c": "A", "NAME": "Acme"}, True),
    ({"Name": "Acme Corporation", "Code__c": "A"}, True),
    ({"Name": 12345, "Code__c": "A"}, True),  # a number is written as its text
    ({"Name": True, "Code__c": "A"}, True),
    ({"Name": "A", "Code__c": "A", "Email__c": "nope"}, False),
    ({"Kind__c": "Goods"}, False),
    ({"Kind__c": 1}, False),
    ({"Kind__c": "Services"}, False),
    ({"Tags__c": "a;b"}, False),
    ({"Tags__c": "a;x;y"}, False),
    ({"Hold__c": None}, False),
    ({"Hold__c": "yes"}, False),
    ({"Size__c": Decimal("2.5")}, False),
    ({"Nope__c": 1}, False),
]


def test_a_validator_reused_for_many_records_answers_like_validate_native() -> None:
    checks = NativeValidator(SCHEMA)
    answers = [
        outcome(lambda v=values, c=creating, i=i: checks.validate(f"r{i}", v, c))
        for i, (values, creating) in enumerate(RECORDS)
    ]
    assert answers == [
        outcome(lambda v=values, c=creating, i=i: validate_native(f"r{i}", v, SCHEMA, c))
        for i, (values, creating) in enumerate(RECORDS)
    ]
    assert answers == [
        "ok",
        "ok",
        "record r2, field Code__c, value None: Account.Code__c is required to create a record"
        " [r2 Code__c None]",
        "ok",
        "record r4, field Name, value '': Account.Name: may not be empty [r4 Name '']",
        "ok",
        "record r6, field Name, value 'Acme Corporation': Account.Name: is 16 characters long,"
        " at most 10 allowed [r6 Name 'Acme Corporation']",
        "ok",
        "record r8, field Name, value True: Account.Name: expected text for a string field, got"
        " bool [r8 Name True]",
        "record r9, field Email__c, value 'nope': Account.Email__c: not a valid e-mail address"
        " [r9 Email__c 'nope']",
        "ok",
        "ok",
        "record r12, field Kind__c, value 'Services': Account.Kind__c: 'Services' is not in the"
        " restricted picklist [r12 Kind__c 'Services']",
        "ok",
        "record r14, field Tags__c, value 'a;x;y': Account.Tags__c: 'x', 'y' is not in the"
        " restricted picklist [r14 Tags__c 'a;x;y']",
        "ok",  # a boolean may be null: Salesforce takes it as false
        "record r16, field Hold__c, value 'yes': Account.Hold__c: expected true or false, got"
        " 'yes' [r16 Hold__c 'yes']",
        "record r17, field Size__c, value Decimal('2.5'): Account.Size__c: expected an integer,"
        " got a fraction [r17 Size__c Decimal('2.5')]",
        "record r18, field Nope__c, value 1: Account has no field Nope__c [r18 Nope__c 1]",
    ]


def test_a_mapper_plans_each_entity_spec_it_is_given(mapper: Mapper, refs: MemoryRefs) -> None:
    twin: FlowSpec = parse_flow(FLOW.replace("{field: name, erp: name,", "{field: name, erp: nm,"))
    row = {"name": "Acme", "nm": "Twin"}
    assert mapper.to_canonical("customer", "erp", row, "1", refs)["name"] == "Acme"
    assert mapper.to_canonical(twin.entity("customer"), "erp", row, "1", refs)["name"] == "Twin"
    assert mapper.to_canonical("customer", "erp", row, "1", refs)["name"] == "Acme"
    native = mapper.to_native(twin.entity("customer"), "erp", {"name": "T"}, ["name"], "1", refs)
    assert native == {"nm": "T"}
    assert mapper.to_native("customer", "erp", {"name": "A"}, ["name"], "1", refs) == {"name": "A"}


def test_to_native_names_a_field_the_entity_does_not_map(mapper: Mapper, refs: MemoryRefs) -> None:
    with pytest.raises(KeyError, match="entity customer maps no field 'nope'"):
        mapper.to_native("customer", "crm", {"name": "A"}, ["name", "nope"], "1", refs)


VALUE_MAP = ValueMapSpec(pairs={1: "Active", "0": "Inactive", "X": 5, "Y": True}, default_erp="?")


@pytest.mark.parametrize(
    "value", [1, "1", Decimal("1.0"), 1.0, True, "0", 0, "X", "Active", 5, "5", "Q", None, " 1 "]
)
@pytest.mark.parametrize("to", ["erp", "crm"])
def test_a_translator_answers_like_lookup(value: Any, to: Any) -> None:
    assert VALUE_MAP.translator(to)(value) == VALUE_MAP.lookup(value, to)


def test_a_translator_refuses_what_lookup_refuses() -> None:
    with pytest.raises(TypeError):
        VALUE_MAP.lookup(["x"], "crm")
    with pytest.raises(TypeError):
        VALUE_MAP.translator("crm")(["x"])


@given(st.integers(), st.integers())
def test_integers_equal_like_their_decimals(a: int, b: int) -> None:
    assert values_equal(a, b) == values_equal(Decimal(a), Decimal(b)) == (a == b)
    assert values_equal(a, Decimal(b)) == (a == b)


def test_same_type_values_compare_like_mixed_ones() -> None:
    assert values_equal("a", "a") and not values_equal("a", "a ")
    assert values_equal(True, True) and not values_equal(True, 1)
    assert values_equal(Decimal("1.0"), Decimal("1")) and values_equal(Decimal("1.0"), 1)
    assert not values_equal(Decimal("NaN"), Decimal("NaN"))
    assert values_equal(date(2026, 1, 2), date(2026, 1, 2))
    assert not values_equal(date(2026, 1, 2), date(2026, 1, 3))


TEXT_INFOS = [
    FieldInfo("T", "string", length=5),
    FieldInfo("T", "string", length=0),
    FieldInfo("T", "string", nillable=False),
    FieldInfo("T", "textarea"),
    FieldInfo("T", "phone", length=8),
    FieldInfo("T", "email", length=12),
    FieldInfo("T", "picklist", picklist=("a", "bb"), restricted_picklist=True),
    FieldInfo("T", "picklist", picklist=("a", "bb")),
    FieldInfo("T", "multipicklist", picklist=("a", "bb"), restricted_picklist=True, length=4),
    FieldInfo("T", "reference", length=3),
    FieldInfo("T", "integer"),
    FieldInfo("T", "boolean", nillable=False),
]
"""Fields whose check a short text may skip (length only) and fields whose check it may not."""

CELLS = st.one_of(
    st.text(alphabet="ab; @.x", max_size=9),
    st.sampled_from(["", "a", "bb", "a;bb", "x@y.pl", "a@b", " a"]),
    st.none(),
    st.integers(-3, 3),
    st.booleans(),
)


@given(st.sampled_from(TEXT_INFOS), CELLS)
def test_a_text_that_fits_skips_only_checks_that_test_its_length_alone(
    info: FieldInfo, value: Any
) -> None:
    schema = EntitySchema("Obj", {"T": info})
    checks = NativeValidator(schema)
    first = outcome(lambda: checks.validate("r", {"T": value}, False))
    assert first == outcome(lambda: checks.validate("r", {"T": value}, False))  # once resolved
    reason = _refusal(info, value)
    where = f"record r, field T, value {value!r}"
    assert first == ("ok" if reason is None else f"{where}: Obj.T: {reason} [r T {value!r}]")


def test_a_native_writer_writes_what_to_native_writes(mapper: Mapper, refs: MemoryRefs) -> None:
    canonical = {"name": "Acme", "billing_address.country": "PL", "credit_hold": True}
    for side in ("erp", "crm"):
        write = mapper.native_writer("customer", side)
        for fields in (canonical, list(canonical), ["name"]):
            assert write(canonical, fields, "1", refs) == mapper.to_native(
                "customer", side, canonical, fields, "1", refs
            )
    write = mapper.native_writer("customer", "crm")
    with pytest.raises(KeyError, match="entity customer maps no field 'nope'"):
        write({"name": "A"}, ["name", "nope"], "1", refs)


def test_a_value_mapped_text_is_written_the_same_every_time(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    field = "billing_address.country"
    for _ in range(3):  # the first answer is remembered; a refusal is not
        assert mapper.to_native("customer", "crm", {field: "DE"}, [field], "1", refs) == {
            "BillingCountry": "Germany"
        }
        with pytest.raises(MappingError, match="not in value map countries"):
            mapper.to_native("customer", "crm", {field: "FR"}, [field], "1", refs)
