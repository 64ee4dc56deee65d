"""Mapper: native <-> canonical with value maps, refs, defaults, expressions and errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tandem.errors import MappingError
from tandem.mapping import Mapper

from .conftest import MemoryRefs

ERP_CUSTOMER = {
    "name": "Acme",
    "code": "A1",
    "nip": "526-025-02-74",
    "email": "sales@acme.pl",
    "country": "PL",
    "hold": "N",
    "currency": None,
    "note": "x",
}


def test_erp_record_to_canonical(mapper: Mapper, refs: MemoryRefs) -> None:
    canonical = mapper.to_canonical("customer", "erp", ERP_CUSTOMER, "42", refs)
    assert canonical == {
        "name": "Acme",
        "tax_id": "5260250274",
        "email": "sales@acme.pl",
        "billing_address.country": "PL",
        "credit_hold": False,
        "currency": "EUR",  # None took the default
        "x_label": "ACME / A1",
        "x_note": "x",
    }


def test_crm_record_to_canonical_reverses_value_maps(mapper: Mapper, refs: MemoryRefs) -> None:
    crm = {"Name": "Acme", "BillingCountry": "Germany", "Hold__c": True, "Note__c": None}
    canonical = mapper.to_canonical("customer", "crm", crm, "001", refs)
    assert canonical["billing_address.country"] == "DE"
    assert canonical["credit_hold"] is True
    assert canonical["x_note"] == "n/a"
    assert canonical["currency"] == "EUR"  # absent on read, default applies
    assert "tax_id" not in canonical  # partial read: absent fields are left out


def test_canonical_to_crm_forward_maps(mapper: Mapper, refs: MemoryRefs) -> None:
    canonical = mapper.to_canonical("customer", "erp", ERP_CUSTOMER, "42", refs)
    native = mapper.to_native(
        "customer", "crm", canonical, ["name", "billing_address.country", "credit_hold"], "42", refs
    )
    assert native == {"Name": "Acme", "BillingCountry": "Poland", "Hold__c": False}


def test_expression_fields_are_not_written_on_their_side(mapper: Mapper, refs: MemoryRefs) -> None:
    native = mapper.to_native(
        "customer", "erp", {"x_label": "L", "x_note": "N"}, ["x_label", "x_note"], "001", refs
    )
    assert native == {"note": "N"}


def test_unknown_field_in_to_native_is_a_key_error(mapper: Mapper, refs: MemoryRefs) -> None:
    with pytest.raises(KeyError, match="maps no field 'phone'"):
        mapper.to_native("customer", "crm", {"phone": "1"}, ["phone"], "42", refs)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"nip": "1234567890"}, "tax_id", "invalid NIP checksum"),
        ({"email": "sales@"}, "email", "not a valid e-mail address"),
        ({"name": None}, "name", "a value is required"),
        ({"name": "x" * 300}, "name", "at most 255 characters"),
        ({"currency": "EURO"}, "currency", "ISO 4217"),
        ({"country": "Poland"}, "billing_address.country", "ISO 3166"),
        ({"hold": "maybe"}, "credit_hold", "valid boolean"),
        ({"code": 5}, "x_label", "x_label"),
    ],
)
def test_mapping_errors_name_record_field_and_value(
    mapper: Mapper, refs: MemoryRefs, change: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(MappingError) as info:
        mapper.to_canonical("customer", "erp", {**ERP_CUSTOMER, **change}, "42", refs)
    err = info.value
    assert err.record == "42"
    assert err.field == field
    assert message in str(err)
    assert str(err).startswith(f"record 42, field {field}, value ")


def test_unmapped_value_both_directions(mapper: Mapper, refs: MemoryRefs) -> None:
    with pytest.raises(MappingError, match="not in value map countries \\(crm -> erp\\)") as info:
        mapper.to_canonical(
            "customer", "crm", {"Name": "A", "BillingCountry": "Narnia"}, "001", refs
        )
    assert info.value.value == "Narnia"
    with pytest.raises(MappingError, match="not in value map countries \\(erp -> crm\\)") as info2:
        mapper.to_native(
            "customer",
            "crm",
            {"billing_address.country": "FR"},
            ["billing_address.country"],
            "42",
            refs,
        )
    assert info2.value.value == "FR" and info2.value.field == "billing_address.country"


def test_value_map_defaults_and_passthrough(mapper: Mapper, refs: MemoryRefs) -> None:
    canonical = {"code": "P1", "name": "Pen", "kind": "service", "unit": "kg"}
    native = mapper.to_native("product", "crm", canonical, ["kind", "unit"], "7", refs)
    assert native == {"Family": "Services", "QuantityUnitOfMeasure": "kg"}
    with pytest.raises(MappingError, match="value map kinds"):
        mapper.to_canonical("product", "crm", {"Family": "Hardware"}, "01t", refs)
    # an ERP value not in the map: the map's CRM default applies on the way out
    assert mapper.to_native("product", "crm", {"kind": "x"}, ["kind"], "7", refs) == {
        "Family": "Goods"
    }


def test_refs_resolve_both_ways(mapper: Mapper, refs: MemoryRefs) -> None:
    erp = {"last_name": "Doe", "email": "j@acme.pl", "customer_id": 42}
    canonical = mapper.to_canonical("contact", "erp", erp, "c1", refs)
    assert canonical["customer"] == "cust-1"
    assert mapper.to_native("contact", "crm", canonical, ["customer"], "c1", refs) == {
        "AccountId": "001000000000042AAA"
    }
    back = mapper.to_canonical("contact", "crm", {"AccountId": "001000000000042AAA"}, "003", refs)
    assert back == {"customer": "cust-1"}


def test_unlinked_refs_are_mapping_errors(mapper: Mapper, refs: MemoryRefs) -> None:
    with pytest.raises(MappingError) as info:
        mapper.to_native("contact", "crm", {"customer": "cust-9"}, ["customer"], "c1", refs)
    assert "customer cust-9 is not yet linked in crm" in str(info.value)
    assert info.value.field == "customer" and info.value.value == "cust-9"
    with pytest.raises(MappingError, match="customer 43 of erp is not yet linked"):
        mapper.to_canonical("contact", "erp", {"last_name": "D", "customer_id": 43}, "c2", refs)


def test_null_ref_stays_null(mapper: Mapper, refs: MemoryRefs) -> None:
    canonical = mapper.to_canonical(
        "contact", "erp", {"last_name": "D", "customer_id": None}, "c", refs
    )
    assert canonical == {"last_name": "D", "customer": None}
    assert mapper.to_native("contact", "crm", canonical, ["customer"], "c", refs) == {
        "AccountId": None
    }


def test_required_flag_on_field(mapper: Mapper, refs: MemoryRefs) -> None:
    with pytest.raises(MappingError, match="a value is required"):
        mapper.to_canonical("product", "erp", {"sku": "P1", "name": None}, "7", refs)


def test_money_travels_with_its_currency(mapper: Mapper, refs: MemoryRefs) -> None:
    erp = {"product_id": 7, "list_id": 7, "price": "12.30", "currency": "pln"}
    canonical = mapper.to_canonical("price", "erp", erp, "p1", refs)
    assert canonical["unit_price.amount"] == Decimal("12.30")
    assert canonical["unit_price.currency"] == "PLN"
    native = mapper.to_native("price", "crm", canonical, ["unit_price.amount"], "p1", refs)
    assert native == {"UnitPrice": Decimal("12.30"), "CurrencyIsoCode": "PLN"}
    with pytest.raises(MappingError, match="a value is required") as info:
        mapper.to_canonical("price", "erp", {**erp, "currency": None}, "p1", refs)
    assert info.value.field == "unit_price.currency"
    with pytest.raises(MappingError, match="an amount needs its currency") as info:
        mapper.to_canonical("price", "crm", {"UnitPrice": 5}, "01u", refs)
    assert info.value.field == "unit_price.amount" and info.value.value == Decimal(5)


def test_value_map_keys_are_found_by_canonical_form(mapper: Mapper, refs: MemoryRefs) -> None:
    canonical = mapper.to_canonical("customer", "erp", {"hold": "Y"}, "42", refs)
    assert canonical == {"credit_hold": True, "currency": "EUR"}
    assert mapper.to_native("customer", "erp", canonical, ["credit_hold"], "42", refs) == {
        "hold": "Y"
    }
    assert mapper.to_native("customer", "crm", canonical, ["credit_hold"], "42", refs) == {
        "Hold__c": True
    }


def test_expression_failure_is_a_mapping_error(mapper: Mapper, refs: MemoryRefs) -> None:
    with pytest.raises(MappingError, match="erp_expr failed") as info:
        mapper.to_canonical("customer", "erp", {**ERP_CUSTOMER, "code": 5}, "42", refs)
    assert info.value.value == {"name": "Acme", "code": 5}


def test_same_native_field_twice_must_agree(mapper: Mapper, refs: MemoryRefs) -> None:
    from tandem.config import parse_flow

    from .conftest import FLOW

    text = FLOW.replace(
        "      - {field: x_note,",
        "      - {field: x_cur, erp: cur2, crm: CurrencyIsoCode}\n      - {field: x_note,",
    )
    twin = Mapper(parse_flow(text))
    ok = twin.to_native(
        "customer", "crm", {"currency": "EUR", "x_cur": "EUR"}, ["currency", "x_cur"], "1", refs
    )
    assert ok == {"CurrencyIsoCode": "EUR"}
    with pytest.raises(MappingError, match="two different values"):
        twin.to_native(
            "customer", "crm", {"currency": "EUR", "x_cur": "PLN"}, ["currency", "x_cur"], "1", refs
        )


def test_value_map_lookup_normalises_numbers_and_text() -> None:
    from decimal import Decimal as D

    from tandem.config import ValueMapSpec

    vm = ValueMapSpec(pairs={1: "Active", 0: "Inactive", "X": 5})
    assert vm.lookup(D("1.0"), "crm") == (True, "Active")
    assert vm.lookup("0", "crm") == (True, "Inactive")
    assert vm.lookup(True, "crm") == (False, None)  # a boolean is not the number 1
    assert vm.lookup(5.0, "erp") == (True, "X")
    assert vm.lookup("Gone", "erp") == (False, None)
    assert ValueMapSpec(pairs={}, passthrough=True).lookup("Gone", "erp") == (True, "Gone")
    assert ValueMapSpec(pairs={}, default_erp="?").lookup("Gone", "erp") == (True, "?")
    assert vm.targets("crm") == ["Active", "Inactive", 5]
    assert vm.targets("erp") == [1, 0, "X"]


def test_fields_given_as_a_dict_write_what_the_list_writes(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    customer = mapper.to_canonical("customer", "erp", ERP_CUSTOMER, "42", refs)
    price = mapper.to_canonical(
        "price", "erp", {"product_id": 7, "list_id": 7, "price": "1", "currency": "pln"}, "p", refs
    )
    for entity, canonical in (("customer", customer), ("price", price)):
        as_list = mapper.to_native(entity, "crm", canonical, list(canonical), "42", refs)
        assert mapper.to_native(entity, "crm", canonical, canonical, "42", refs) == as_list
        only_amount = {k: v for k, v in canonical.items() if k != "unit_price.currency"}
        assert mapper.to_native(entity, "crm", canonical, only_amount, "42", refs) == (
            mapper.to_native(entity, "crm", canonical, list(only_amount), "42", refs)
        )
    assert mapper.to_native("price", "crm", price, {"unit_price.amount": None}, "p", refs) == {
        "UnitPrice": Decimal(1),
        "CurrencyIsoCode": "PLN",
    }
