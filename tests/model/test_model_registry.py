"""The model registry, one-field validation, custom fields and whole-record round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from tandem.model import (
    MODELS,
    Customer,
    Invoice,
    Money,
    Opportunity,
    PriceListEntry,
    build_record,
    canonical_field,
    validate_field,
)

TOUCH_POINTS = {
    "customer",
    "contact",
    "representative",
    "product_category",
    "product",
    "price_list",
    "price_list_entry",
    "quote",
    "order",
    "invoice",
    "payment",
    "fulfilment",
    "opportunity",
    "forecast",
}


def test_registry_covers_every_touch_point() -> None:
    assert set(MODELS) >= TOUCH_POINTS
    assert {"quote_line", "order_line", "invoice_line", "opportunity_line"} <= set(MODELS)


def test_unknown_model_and_field() -> None:
    with pytest.raises(ValueError, match="unknown canonical model 'nope'"):
        validate_field("nope", "name", "x")
    with pytest.raises(ValueError, match="customer has no field 'nme'"):
        validate_field("customer", "nme", "x")
    with pytest.raises(ValueError, match="billing_address has no field 'town'"):
        validate_field("customer", "billing_address.town", "x")
    with pytest.raises(ValueError, match="has no sub-fields"):
        validate_field("customer", "name.first", "x")


def test_custom_fields_are_untyped_everywhere() -> None:
    for name in MODELS:
        assert validate_field(name, "x_anything", {"a": [1]}) == {"a": [1]}
    customer = Customer(name="Acme", x_region_code=7)
    assert customer.model_extra == {"x_region_code": 7}
    with pytest.raises(ValidationError, match="custom fields must start with 'x_'"):
        Customer(name="Acme", region_code=7)


def test_canonical_field_kinds() -> None:
    assert canonical_field("customer", "credit_hold").kind == "bool"
    assert canonical_field("customer", "billing_address").kind == "model"
    assert canonical_field("price_list_entry", "unit_price").kind == "money"
    assert canonical_field("price_list_entry", "unit_price.amount").kind == "decimal"
    assert canonical_field("fulfilment", "shipped_at").kind == "datetime"
    assert canonical_field("opportunity", "close_date").kind == "date"
    assert canonical_field("product", "kind").choices == ("product", "service")
    assert canonical_field("customer", "name").required
    assert not canonical_field("customer", "email").required


def test_literal_fields_refuse_other_values() -> None:
    with pytest.raises(ValueError, match="'product' or 'service'"):
        validate_field("product", "kind", "goods")
    assert validate_field("opportunity", "forecast_category", "commit") == "commit"


def test_money_always_has_both_parts() -> None:
    with pytest.raises(ValidationError, match="currency"):
        Money(amount=Decimal(1))  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        PriceListEntry(product="p", price_list="l", unit_price={"amount": "1"})
    assert str(Money(amount=Decimal("9.99"), currency="eur")) == "9.99 EUR"


def test_document_amounts_in_document_currency() -> None:
    invoice = Invoice(
        customer="c1",
        currency="PLN",
        total={"amount": "123.00", "currency": "PLN"},
        lines=[{"quantity": "2", "unit_price": {"amount": "61.50", "currency": "PLN"}}],
    )
    assert invoice.lines[0].unit_price.amount == Decimal("61.50")
    with pytest.raises(ValidationError, match="total is in EUR, the document in PLN"):
        Invoice(customer="c1", currency="PLN", total={"amount": "1", "currency": "EUR"})


def test_round_trip_through_json() -> None:
    opportunity = Opportunity(
        name="Big deal",
        customer="c1",
        stage="Negotiation",
        probability=Decimal(60),
        forecast_category="best_case",
        amount=Money(amount=Decimal("1000.00"), currency="EUR"),
        close_date=date(2025, 3, 31),
        lines=[{"quantity": 1, "unit_price": {"amount": "1000.00", "currency": "EUR"}}],
        x_source="web",
    )
    again = Opportunity.model_validate_json(opportunity.model_dump_json())
    assert again == opportunity
    assert again.amount is not None and again.amount.amount == Decimal("1000.00")


def test_build_record_from_flat_dotted_dict() -> None:
    record = build_record(
        "customer",
        {"name": "Acme", "billing_address.city": "Warsaw", "billing_address.country": "pl"},
    )
    assert isinstance(record, Customer)
    assert record.billing_address is not None and record.billing_address.country == "PL"
    with pytest.raises(ValueError, match="name"):
        build_record("customer", {"email": "a@b.co"})


def test_forecast_period_order() -> None:
    with pytest.raises(ValidationError, match="period_end is before period_start"):
        MODELS["forecast"].model_validate(
            {
                "period_start": "2025-02-01",
                "period_end": "2025-01-01",
                "owner": "Ann",
                "category": "commit",
                "amount": {"amount": 1, "currency": "EUR"},
            }
        )


def test_fulfilment_instants() -> None:
    model = MODELS["fulfilment"].model_validate(
        {"order": "o1", "status": "shipped", "shipped_at": "2025-01-02T03:04:05+01:00"}
    )
    assert model.shipped_at == datetime(2025, 1, 2, 2, 4, 5, tzinfo=UTC)  # type: ignore[attr-defined]


def test_a_representative_belongs_to_a_customer_in_a_role() -> None:
    rep = build_record(
        "representative",
        {
            "customer": "C-7",
            "name": "Anna Nowak",
            "role": "Account Manager",
            "email": "anna.nowak@example.com",
            "access": "edit",
            "primary": True,
        },
    )
    assert (rep.customer, rep.role, rep.access, rep.primary, rep.active) == (
        "C-7",
        "Account Manager",
        "edit",
        True,
        True,
    )
    assert canonical_field("representative", "customer").required
    assert canonical_field("representative", "access").choices == ("read", "edit", "all")
    with pytest.raises(ValueError, match="'read', 'edit' or 'all'"):
        validate_field("representative", "access", "owner")
    with pytest.raises(ValueError, match="customer: Field required"):
        build_record("representative", {"name": "No customer"})
