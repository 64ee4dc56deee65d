"""Decimal places: numbers rounded to what a native numeric field holds, compared at that scale.

The ``price`` entity of the mapping flow maps ``unit_price.amount`` to ERP ``prices.price`` and
CRM ``PricebookEntry.UnitPrice``: an ERP ``NUMERIC(12, 3)`` against a currency field of scale 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from tandem.config import FlowSpec
from tandem.connectors.base import EntitySchema, FieldInfo
from tandem.mapping import Mapper, fit_scale, scale_warnings, values_equal
from tandem.mapping.scale import native_scale, round_half_up

from .conftest import MemoryRefs


@dataclass(frozen=True, slots=True)
class Column(FieldInfo):
    """A SQL column as a connector describing its ``NUMERIC(p, s)`` scale would give it."""

    scale: int | None = None


def erp_prices(scale: int | None = 3) -> EntitySchema:
    fields = {
        "id": FieldInfo("id", "id", nillable=False, createable=False, updateable=False),
        "product_id": FieldInfo("product_id", "integer"),
        "list_id": FieldInfo("list_id", "integer"),
        "price": Column("price", "number", scale=scale),
        "currency": FieldInfo("currency", "string", length=3),
    }
    return EntitySchema("prices", fields)


def crm_entries(scale: int = 2) -> EntitySchema:
    fields = {
        "Id": FieldInfo("Id", "id", nillable=False, createable=False, updateable=False),
        "Product2Id": FieldInfo("Product2Id", "reference", reference_to=("Product2",)),
        "Pricebook2Id": FieldInfo("Pricebook2Id", "reference", reference_to=("Pricebook2",)),
        "UnitPrice": FieldInfo("UnitPrice", "currency", scale=scale),
        "CurrencyIsoCode": FieldInfo("CurrencyIsoCode", "string", length=3),
        "ERP_Id__c": FieldInfo("ERP_Id__c", "string", length=40, external_id=True, unique=True),
    }
    return EntitySchema("PricebookEntry", fields)


ERP_PRICE = {"product_id": 7, "list_id": 7, "price": Decimal("12.345"), "currency": "PLN"}


def amount(mapper: Mapper, side: str, native: dict[str, Any], refs: MemoryRefs) -> Any:
    canonical = mapper.to_canonical("price", side, native, "p1", refs)  # type: ignore[arg-type]
    return canonical["unit_price.amount"]


# -- rounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Decimal("12.345"), 2, Decimal("12.35")),  # half up, as Salesforce rounds
        (Decimal("0.125"), 2, Decimal("0.13")),  # not half even (round() gives 0.12)
        (Decimal("2.675"), 2, Decimal("2.68")),  # exact: the float 2.675 would give 2.67
        (Decimal("-12.345"), 2, Decimal("-12.35")),  # half away from zero
        (Decimal("12.344"), 2, Decimal("12.34")),
        (Decimal("0.5"), 0, Decimal("1")),
        (Decimal("1." + "9" * 40), 2, Decimal("2.00")),  # longer than the default precision
    ],
)
def test_a_number_with_more_places_is_rounded_half_up(
    value: Decimal, places: int, expected: Decimal
) -> None:
    fitted = fit_scale(value, places)
    assert type(fitted) is Decimal and str(fitted) == str(expected)


def test_a_number_that_fits_and_anything_else_is_left_as_it_is() -> None:
    fits = Decimal("12.3")
    assert fit_scale(fits, 2) is fits  # not widened to 12.30
    for value in (12, True, "12.345", None, Decimal("NaN"), float("inf")):
        assert fit_scale(value, 2) is value
    assert fit_scale(12.345, 2) == 12.35 and type(fit_scale(12.345, 2)) is float
    assert round_half_up(Decimal("1E+30"), 2) == Decimal("1E+30")


def test_only_a_described_scale_of_a_number_field_counts() -> None:
    assert native_scale(FieldInfo("UnitPrice", "currency", scale=2)) == 2
    assert native_scale(FieldInfo("Probability", "percent", scale=0)) == 0
    assert native_scale(Column("qty", "number", scale=None)) is None  # NUMERIC, FLOAT
    assert native_scale(FieldInfo("Amount", "currency")) is None  # a connector without scales
    assert native_scale(Column("n", "integer", scale=0)) is None
    assert native_scale(Column("code", "string", scale=2)) is None
    assert native_scale(None) is None


# -- the mapper ----------------------------------------------------------------------------


def test_without_a_schema_numbers_are_mapped_as_they_are(mapper: Mapper, refs: MemoryRefs) -> None:
    assert amount(mapper, "erp", ERP_PRICE, refs) == Decimal("12.345")
    native = mapper.to_native(
        "price", "crm", {"unit_price.amount": Decimal("12.345")}, ["unit_price.amount"], "p1", refs
    )
    assert native["UnitPrice"] == Decimal("12.345")


def test_a_value_written_to_the_crm_is_rounded_to_the_fields_scale(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    mapper.use_schema("price", "crm", crm_entries(scale=2))
    canonical = {"unit_price.amount": Decimal("12.345"), "unit_price.currency": "PLN"}
    native = mapper.to_native("price", "crm", canonical, ["unit_price.amount"], "p1", refs)
    assert native == {"UnitPrice": Decimal("12.35"), "CurrencyIsoCode": "PLN"}
    write = mapper.native_writer("price", "crm")
    assert write(canonical, ["unit_price.amount"], "p1", refs)["UnitPrice"] == Decimal("12.35")


def test_both_sides_read_at_the_crm_scale_so_they_compare_equal(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    mapper.use_schema("price", "erp", erp_prices(scale=3))
    mapper.use_schema("price", "crm", crm_entries(scale=2))
    erp = amount(mapper, "erp", ERP_PRICE, refs)
    crm = amount(mapper, "crm", {"UnitPrice": Decimal("12.35"), "CurrencyIsoCode": "PLN"}, refs)
    assert erp == Decimal("12.35") and values_equal(erp, crm)
    # what the planner records after writing is what the CRM holds
    native = mapper.to_native(
        "price", "crm", {"unit_price.amount": erp}, ["unit_price.amount"], "p1", refs
    )
    assert values_equal(native["UnitPrice"], crm)
    # a change the CRM can hold is still a change
    changed = amount(mapper, "erp", {**ERP_PRICE, "price": Decimal("12.355")}, refs)
    assert changed == Decimal("12.36") and not values_equal(changed, crm)


def test_the_crm_scale_applies_before_the_erp_is_described(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    """A SQL connector that does not describe a column's scale: the CRM's alone counts."""
    mapper.use_schema("price", "erp", erp_prices(scale=None))
    mapper.use_schema("price", "crm", crm_entries(scale=2))
    assert amount(mapper, "erp", ERP_PRICE, refs) == Decimal("12.35")


def test_a_crm_value_written_to_the_erp_fits_the_columns_scale(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    mapper.use_schema("price", "erp", erp_prices(scale=2))
    mapper.use_schema("price", "crm", crm_entries(scale=4))
    canonical = {"unit_price.amount": Decimal("12.3456")}
    native = mapper.to_native("price", "erp", canonical, ["unit_price.amount"], "p1", refs)
    assert native["price"] == Decimal("12.35")
    assert amount(
        mapper, "crm", {"UnitPrice": Decimal("12.3456"), "CurrencyIsoCode": "PLN"}, refs
    ) == Decimal("12.35")
    assert amount(mapper, "erp", {**ERP_PRICE, "price": Decimal("12.35")}, refs) == Decimal("12.35")


def test_checking_a_binding_is_how_the_mapper_learns_the_schema(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    """``Engine.prepare`` checks every entity against each system's description."""
    mapper.binding_problems("price", "erp", erp_prices(scale=3), writes=False)
    assert amount(mapper, "erp", ERP_PRICE, refs) == Decimal("12.345")  # no CRM scale yet
    mapper.check_binding("price", "crm", crm_entries(scale=2), writes=True)
    assert amount(mapper, "erp", ERP_PRICE, refs) == Decimal("12.35")  # plans made anew


def test_a_schema_described_again_with_another_scale_takes_over(
    mapper: Mapper, refs: MemoryRefs
) -> None:
    canonical = {"unit_price.amount": Decimal("12.3456")}
    mapper.use_schema("price", "crm", crm_entries(scale=2))
    assert mapper.to_native("price", "crm", canonical, ["unit_price.amount"], "p1", refs) == {
        "UnitPrice": Decimal("12.35")
    }
    mapper.use_schema("price", "crm", crm_entries(scale=3))
    assert mapper.to_native("price", "crm", canonical, ["unit_price.amount"], "p1", refs) == {
        "UnitPrice": Decimal("12.346")
    }


def test_references_and_other_fields_are_not_rounded(mapper: Mapper, refs: MemoryRefs) -> None:
    mapper.use_schema("price", "crm", crm_entries(scale=2))
    canonical = mapper.to_canonical("price", "erp", ERP_PRICE, "p1", refs)
    assert canonical == {
        "product": "prod-1",
        "price_list": "prod-1",
        "unit_price.amount": Decimal("12.35"),
        "unit_price.currency": "PLN",
    }
    fields = ["product", "unit_price.amount"]
    native = mapper.to_native("price", "crm", canonical, fields, "p1", refs)
    assert native == {
        "Product2Id": "01t000000000007AAA",
        "UnitPrice": Decimal("12.35"),
        "CurrencyIsoCode": "PLN",
    }


def test_agreed_values_recorded_before_the_scale_was_known_are_fitted(
    mapper: Mapper,
) -> None:
    agreed = {"unit_price.amount": Decimal("12.345"), "unit_price.currency": "PLN"}
    assert mapper.fit_scales("price", agreed) is agreed  # no schema: nothing to fit
    mapper.use_schema("price", "crm", crm_entries(scale=2))
    assert mapper.fit_scales("price", agreed) == {
        "unit_price.amount": Decimal("12.35"),
        "unit_price.currency": "PLN",
    }
    fitted = {"unit_price.amount": Decimal("12.35")}
    assert mapper.fit_scales("price", fitted) is fitted


# -- warnings --------------------------------------------------------------------------------


def test_an_erp_column_with_more_places_than_the_crm_field_is_a_warning(flow: FlowSpec) -> None:
    found = scale_warnings(flow.entity("price"), erp_prices(scale=3), crm_entries(scale=2))
    assert [(p.path, p.message) for p in found] == [
        (
            ("fields", 2, "crm"),
            "entity price, field unit_price.amount: erp prices.price has 3 decimal places"
            " but crm PricebookEntry.UnitPrice has 2 decimal places; values are compared at"
            " 2 decimal places and rounded half up to 2 decimal places when written to the crm",
        )
    ]


def test_equal_or_unknown_scales_are_no_warning(flow: FlowSpec) -> None:
    price = flow.entity("price")
    assert scale_warnings(price, erp_prices(scale=2), crm_entries(scale=2)) == []
    assert scale_warnings(price, erp_prices(scale=None), crm_entries(scale=2)) == []
    fewer = scale_warnings(price, erp_prices(scale=1), crm_entries(scale=2))
    assert [p.path for p in fewer] == [("fields", 2, "erp")]
    assert "has 1 decimal place but" in fewer[0].message


def test_an_integer_field_against_decimal_places_is_a_warning(flow: FlowSpec) -> None:
    price = flow.entity("price")
    whole = crm_entries()
    whole = EntitySchema(
        whole.source, {**whole.fields, "UnitPrice": FieldInfo("UnitPrice", "integer")}
    )
    (found,) = scale_warnings(price, erp_prices(scale=2), whole)
    assert found.path == ("fields", 2, "crm")
    assert found.message == (
        "entity price, field unit_price.amount: erp prices.price has 2 decimal places but crm"
        " PricebookEntry.UnitPrice holds whole numbers; a value with a fraction is not written"
        " to the crm (the record is dead-lettered, naming it)"
    )
    assert scale_warnings(price, erp_prices(scale=0), whole) == []  # whole numbers both


def test_a_scale_mismatch_is_a_warning_once_not_a_problem(mapper: Mapper) -> None:
    problems = [
        *mapper.binding_problems("price", "erp", erp_prices(scale=3), writes=False),
        *mapper.binding_problems("price", "crm", crm_entries(scale=2), writes=True),
    ]
    assert not any("decimal place" in p.message for p in problems)  # `tandem check` passes
    mapper.binding_problems("price", "crm", crm_entries(scale=2), writes=True)  # described again
    (warning,) = mapper.binding_warnings("price")
    assert "entity price, field unit_price.amount" in warning.message
    assert "3 decimal places" in warning.message
    assert [w.path for w in mapper.binding_warnings("price")] == [("fields", 2, "crm")]
