"""A tax ID in any script's decimal digits, or with typographic dashes, is the ASCII number."""

from __future__ import annotations

import pytest

from tandem.model import Customer
from tandem.model.types import nip_checksum_ok, normalise_eu_vat, normalise_nip, normalise_tax_id

NIP = "5260001246"
FULL_WIDTH = NIP.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
ARABIC_INDIC = NIP.translate({ord(d): 0x0660 + int(d) for d in "0123456789"})
DEVANAGARI = NIP.translate({ord(d): 0x0966 + int(d) for d in "0123456789"})


@pytest.mark.parametrize("typed", [FULL_WIDTH, ARABIC_INDIC, DEVANAGARI])
def test_other_decimal_digits_become_the_ascii_nip(typed: str) -> None:
    # kept as typed, the value never equals the ASCII NIP a first link by tax ID looks for
    assert normalise_tax_id(typed) == NIP
    assert normalise_nip(typed) == NIP
    assert normalise_nip("PL" + typed) == NIP
    assert normalise_eu_vat("PL" + typed) == "PL" + NIP
    assert normalise_tax_id("PL " + typed) == "PL" + NIP


@pytest.mark.parametrize(
    "dash", ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\uff0d", "\u00ad"]
)
def test_dash_like_characters_separate(dash: str) -> None:
    typed = f"526{dash}000{dash}12{dash}46"
    assert normalise_tax_id(typed) == NIP
    assert normalise_nip(typed) == NIP
    assert normalise_eu_vat(f"PL{dash}{typed}") == "PL" + NIP


@pytest.mark.parametrize(
    "typed", ["526000124²", "\u2460\uff12\uff160001246", "52600012⁴6", "PL526000124½"]
)
def test_a_digit_that_is_not_decimal_is_refused_by_name(typed: str) -> None:
    for check in (normalise_tax_id, normalise_nip, normalise_eu_vat):
        with pytest.raises(ValueError, match="is not a decimal digit") as caught:
            check(typed)
        assert repr(typed) in str(caught.value)  # the value is named, not a bare int() error


def test_nip_checksum_of_a_superscript_is_false() -> None:
    assert not nip_checksum_ok("526000124²")
    assert nip_checksum_ok(ARABIC_INDIC)


def test_a_customer_keeps_the_ascii_tax_id() -> None:
    customer = Customer(name="Acme", tax_id=f"PL {FULL_WIDTH[:3]}\u2013{FULL_WIDTH[3:]}")
    assert customer.tax_id == "PL" + NIP
