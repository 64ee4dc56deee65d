"""Validated value types: NIP, EU VAT, tax IDs, e-mail, phone, country, currency, UTC instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.model import validate_field
from tandem.model.types import (
    nip_checksum_ok,
    normalise_eu_vat,
    normalise_nip,
    normalise_tax_id,
)

WEIGHTS = [6, 5, 7, 2, 3, 4, 5, 6, 7]


def official_check_digit(first_nine: str) -> int:
    """The NIP check digit per the Ministry of Finance algorithm (10 = no valid NIP)."""
    return sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True)) % 11


def make_nip(first_nine: str) -> str | None:
    digit = official_check_digit(first_nine)
    return None if digit == 10 else first_nine + str(digit)


VALID_NIPS = [n for n in (make_nip(p) for p in ("526025027", "123456321", "774000144")) if n]


@pytest.mark.parametrize("nip", VALID_NIPS)
def test_valid_nip_in_any_spelling_normalises_to_ten_digits(nip: str) -> None:
    dashed = f"{nip[:3]}-{nip[3:6]}-{nip[6:8]}-{nip[8:]}"
    assert normalise_nip(nip) == nip
    assert normalise_nip(dashed) == nip
    assert normalise_nip(f"PL {nip}") == nip
    assert validate_field("customer", "nip", dashed) == nip


def test_known_real_world_nip() -> None:
    # 526-025-02-74: 5*6+2*5+6*7+0*2+2*3+5*4+0*5+2*6+7*7 = 169; 169 % 11 = 4
    assert nip_checksum_ok("5260250274")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("5260250275", "invalid NIP checksum"),
        ("1234567890", "invalid NIP checksum"),
        ("526025027", "exactly 10 digits"),
        ("52602502740", "exactly 10 digits"),
        ("52602502A4", "exactly 10 digits"),
    ],
)
def test_invalid_nip_is_refused_with_reason(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_field("customer", "nip", value)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_nip_checksum_matches_official_algorithm(first_nine: str) -> None:
    digit = official_check_digit(first_nine)
    for last in range(10):
        assert nip_checksum_ok(first_nine + str(last)) == (digit == last)


def test_remainder_ten_never_valid() -> None:
    first_nine = next(
        f"{i:09d}" for i in range(1, 10_000) if official_check_digit(f"{i:09d}") == 10
    )
    assert not any(nip_checksum_ok(first_nine + str(d)) for d in range(10))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DE123456789", "DE123456789"),
        ("de 123 456 789", "DE123456789"),
        ("ATU12345678", "ATU12345678"),
        ("NL123456789B01", "NL123456789B01"),
        ("FR12345678901", "FR12345678901"),
        ("GR123456789", "EL123456789"),
        ("PL5260250274", "PL5260250274"),
    ],
)
def test_eu_vat_formats(value: str, expected: str) -> None:
    assert normalise_eu_vat(value) == expected
    assert validate_field("customer", "vat_id", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("DE12345678", "DE VAT number format"),
        ("AT12345678", "AT VAT number format"),
        ("PL5260250275", "invalid NIP checksum"),
        ("US123456789", "member-state prefix"),
    ],
)
def test_invalid_eu_vat(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_field("customer", "vat_id", value)


def test_generic_tax_id_rules() -> None:
    assert normalise_tax_id("526-025-02-74") == "5260250274"
    assert normalise_tax_id("DE 123456789") == "DE123456789"
    assert normalise_tax_id("12-3456789") == "123456789"  # a US EIN
    with pytest.raises(ValueError, match="NIP checksum"):
        normalise_tax_id("5260250275")
    with pytest.raises(ValueError, match="2-20 letters"):
        normalise_tax_id("#")


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@example.com", "x_y@sub.domain.pl"])
def test_valid_emails(email: str) -> None:
    assert validate_field("contact", "email", f" {email} ") == email


@pytest.mark.parametrize(
    "email", ["plain", "a@", "@b.com", "a@b", "a b@c.com", "a@@b.com", "a..b@c.com", "a@-b.com"]
)
def test_invalid_emails(email: str) -> None:
    with pytest.raises(ValueError, match="e-mail"):
        validate_field("contact", "email", email)


def test_country_and_currency_codes() -> None:
    assert validate_field("customer", "billing_address.country", " pl ") == "PL"
    assert validate_field("customer", "currency", "eur") == "EUR"
    with pytest.raises(ValueError, match="ISO 3166"):
        validate_field("customer", "billing_address.country", "Poland")
    with pytest.raises(ValueError, match="ISO 4217"):
        validate_field("customer", "currency", "EURO")
    with pytest.raises(ValueError, match="ISO 4217"):
        validate_field("payment", "amount.currency", "XXX")


def test_phone() -> None:
    assert validate_field("customer", "phone", "+48 (22) 123-45-67 ext 12")
    with pytest.raises(ValueError, match="phone"):
        validate_field("customer", "phone", "call me")


def test_instants_are_utc_and_naive_is_refused() -> None:
    warsaw = timezone(timedelta(hours=2))
    value = validate_field("fulfilment", "shipped_at", datetime(2024, 6, 1, 12, 0, tzinfo=warsaw))
    assert value == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert value.tzinfo is UTC
    parsed = validate_field("fulfilment", "shipped_at", "2024-06-01T10:00:00Z")
    assert parsed == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive datetime"):
        validate_field("fulfilment", "shipped_at", datetime(2024, 6, 1, 12, 0))
    with pytest.raises(ValueError, match="naive datetime"):
        validate_field("fulfilment", "shipped_at", "2024-06-01T10:00:00")


def test_dates_stay_dates() -> None:
    assert validate_field("opportunity", "close_date", "2024-12-31") == date(2024, 12, 31)
    assert type(validate_field("opportunity", "close_date", date(2024, 12, 31))) is date


def test_money_parts_and_percent_bounds() -> None:
    assert validate_field("price_list_entry", "unit_price.amount", "10.50") == Decimal("10.50")
    assert validate_field("price_list_entry", "unit_price.amount", 0.1) == Decimal("0.1")
    assert validate_field("opportunity", "probability", 100) == Decimal(100)
    with pytest.raises(ValueError, match="less than or equal to 100"):
        validate_field("opportunity", "probability", 101)
    with pytest.raises(ValueError):
        validate_field("opportunity", "probability", -1)
