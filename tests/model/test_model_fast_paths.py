"""The fast paths of check_phone and normalise_tax_id answer as their plain definitions do."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.model.codes import EU_VAT_PATTERNS
from tandem.model.types import check_phone, normalise_eu_vat, normalise_tax_id

PHONE = re.compile(r"^\+?[0-9 ()./-]{3,32}(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?$", re.IGNORECASE)


def plain_phone(value: str) -> str:
    """check_phone by its definition: the pattern, then at least three decimal digits."""
    text = value.strip()
    if not PHONE.match(text) or sum(c.isdigit() for c in text) < 3:
        raise ValueError("not a valid phone number")
    return text


def plain_nip_ok(digits: str) -> bool:
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    remainder = sum(w * int(d) for w, d in zip(weights, digits, strict=False)) % 11
    return remainder != 10 and remainder == int(digits[9])


DASHES = "-\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"


def plain_compact(value: str) -> str:
    """A tax ID's characters one by one: separators dropped, decimal digits of any script as
    ASCII ones, any other digit refused."""
    kept = ""
    for char in value:
        if char.isspace() or char in "./" or char in DASHES:
            continue
        if char.isdecimal():
            kept += str(unicodedata.decimal(char))
        elif char.isnumeric():
            raise ValueError(f"{char!r} in {value!r} is not a decimal digit")
        else:
            kept += char
    return kept


def plain_tax_id(value: str) -> str:
    """normalise_tax_id by its definition, one rule after the other."""
    text = plain_compact(value).upper()
    if len(text) > 2 and (text[:2] in EU_VAT_PATTERNS or text[:2] == "GR") and text[2:3].isdigit():
        return normalise_eu_vat(text)
    if len(text) == 10 and text.isdigit():
        if not plain_nip_ok(text):
            raise ValueError("invalid NIP checksum")
        return text
    if not re.fullmatch(r"[A-Z0-9]{2,20}", text):
        raise ValueError("a tax ID has 2-20 letters and digits")
    return text


def outcome(check: object, value: str) -> tuple[str, str]:
    try:
        return "ok", check(value)  # type: ignore[operator]
    except ValueError as exc:
        return "refused", str(exc)


PHONES = st.one_of(
    st.text(alphabet="+0123456789 ()./-x\t\n٣e", max_size=36),
    st.text(max_size=36),
    st.sampled_from(["+48 600 100 200", "12", "123", "+" + "1" * 32, "1" * 33, " +1 2 3\n"]),
)
TAX_IDS = st.one_of(
    st.text(alphabet="0123456789", min_size=9, max_size=11),
    st.text(alphabet="0123456789-. PLplde٣", max_size=16),
    st.text(alphabet="0123456789\uff15٣²①½\u2013\u2014\u2212\u00a0PL", max_size=14),
    st.text(max_size=14),
)


@settings(max_examples=400, deadline=None)
@given(PHONES)
def test_check_phone_is_its_definition(value: str) -> None:
    assert outcome(check_phone, value) == outcome(plain_phone, value)


@settings(max_examples=400, deadline=None)
@given(TAX_IDS)
def test_normalise_tax_id_is_its_definition(value: str) -> None:
    assert outcome(normalise_tax_id, value) == outcome(plain_tax_id, value)


def test_a_bare_nip_is_checked() -> None:
    assert normalise_tax_id("5261040828") == "5261040828"
    assert outcome(normalise_tax_id, "5261040829") == ("refused", "invalid NIP checksum")
    arabic = "\u0665261040828"  # other decimal digits: no fast path, the ASCII answer
    assert normalise_tax_id(arabic) == "5261040828"
