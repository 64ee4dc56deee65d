"""Validated value types shared by the canonical models.

Every constraint lives in an ``Annotated`` type (never in a model ``field_validator``) so that
:func:`tandem.model.validate_field` can check one value through the field's type alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from tandem.model.codes import COUNTRIES, CURRENCIES, EU_VAT_PATTERNS

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_ZERO = ord("0")
_ZERO_WEIGHTS = _ZERO * sum(NIP_WEIGHTS)
_SEPARATORS = re.compile(r"[\s\-./\u00ad\u2010-\u2015\u2212\ufe58\ufe63\uff0d]")
"""Whitespace, ``.``, ``/`` and the dash-like characters a word processor or a PDF puts in a
number: soft hyphen, hyphen, non-breaking hyphen, figure, en and em dash, horizontal bar, minus
sign, and the small and full-width hyphen-minus."""
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{1,59})$"
)
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,32}(?:\s*(?:x|ext\.?)\s*[0-9]{1,6})?$", re.IGNORECASE)
_THREE_DIGITS = re.compile(r"(?:\D*\d){3}")
_PHONE_CHARS = "0123456789 ()./-"
"""The characters of a phone number without an extension (the class in :data:`_PHONE`)."""


def _compact(value: str) -> str:
    """``value`` without separators (:data:`_SEPARATORS`), its decimal digits made ASCII.

    A tax ID typed in full-width or Arabic-Indic digits is the same number as in ASCII ones:
    kept as typed it would never equal the ASCII form when records are linked by tax ID.

    Raises:
        ValueError: a digit that is not a decimal one (a superscript, a circled digit, ...).
    """
    if value.isascii():  # the common case
        return value if value.isalnum() else _SEPARATORS.sub("", value)
    text = _SEPARATORS.sub("", value)
    return text if text.isascii() else _ascii_digits(text, value)


def _ascii_digits(text: str, value: str) -> str:
    """``text`` (compacted from ``value``) with every decimal digit of any script as ASCII."""
    kept = []
    for char in text:
        if char.isdecimal():
            kept.append(chr(_ZERO + unicodedata.decimal(char)))
        elif char.isnumeric():
            raise ValueError(f"{char!r} in {value!r} is not a decimal digit")
        else:
            kept.append(char)
    return "".join(kept)


def nip_checksum_ok(digits: str) -> bool:
    """Tell whether 10 digits form a valid Polish NIP (weights 6,5,7,2,3,4,5,6,7, mod 11).

    Args:
        digits: exactly 10 decimal digits.

    Returns:
        True when the weighted sum of the first nine digits modulo 11 equals the tenth digit
        (a remainder of 10 is never valid).
    """
    if len(digits) != 10 or not digits.isdecimal():  # int() takes decimal digits only
        return False
    if digits.isascii():  # the common case: byte arithmetic instead of ten int() calls
        return _ascii_nip_ok(digits)
    remainder = sum(w * int(d) for w, d in zip(NIP_WEIGHTS, digits, strict=False)) % 11
    return remainder != 10 and remainder == int(digits[9])


def _ascii_nip_ok(digits: str) -> bool:
    """:func:`nip_checksum_ok` of 10 ASCII digits, in one pass over their bytes.

    The weights are :data:`NIP_WEIGHTS`, written out.
    """
    c = digits.encode()
    remainder = (
        6 * c[0] + 5 * c[1] + 7 * c[2] + 2 * c[3] + 3 * c[4]
        + 4 * c[5] + 5 * c[6] + 6 * c[7] + 7 * c[8] - _ZERO_WEIGHTS
    ) % 11  # fmt: skip
    return remainder != 10 and remainder == c[9] - _ZERO


def normalise_nip(value: str) -> str:
    """Validate a Polish NIP and return its 10 digits (separators and a ``PL`` prefix dropped).

    Raises:
        ValueError: the value is not 10 digits or its checksum is wrong.
    """
    text = _compact(value).upper()
    if text.startswith("PL"):
        text = text[2:]
    return _nip_digits(text)


def _nip_digits(text: str) -> str:
    """:func:`normalise_nip` of a text already compact, upper-case and without ``PL``."""
    if len(text) != 10 or not text.isdecimal():
        raise ValueError("a NIP has exactly 10 digits")
    if not nip_checksum_ok(text):
        raise ValueError("invalid NIP checksum")
    return text


def normalise_eu_vat(value: str) -> str:
    """Validate the format of an EU VAT number and return it compact and upper-case.

    Polish numbers (``PL``) are also checked with the NIP checksum; ``GR`` is accepted for ``EL``.

    Raises:
        ValueError: unknown country prefix or a number in the wrong format.
    """
    text = _compact(value).upper()
    prefix, rest = text[:2], text[2:]
    if prefix == "GR":
        prefix = "EL"
    pattern = EU_VAT_PATTERNS.get(prefix)
    if pattern is None:
        raise ValueError(f"EU VAT numbers start with a member-state prefix, not {prefix!r}")
    if not re.fullmatch(pattern, rest):
        raise ValueError(f"not a valid {prefix} VAT number format")
    if prefix == "PL" and not nip_checksum_ok(rest):
        raise ValueError("invalid NIP checksum")
    return prefix + rest


def normalise_tax_id(value: str) -> str:
    """Validate a tax identifier of any country.

    Rules: with an EU member-state prefix it must be a valid EU VAT number; exactly 10 digits
    are taken to be a Polish NIP and must pass its checksum; otherwise 2-20 letters and digits.

    Raises:
        ValueError: the identifier fails the rule that applies to it.
    """
    if len(value) == 10 and value.isascii() and value.isdigit():
        # the common case, a bare NIP: no separator, prefix or letter to look at
        if not _ascii_nip_ok(value):
            raise ValueError("invalid NIP checksum")
        return value
    text = _compact(value).upper()
    if len(text) > 2 and (text[:2] in EU_VAT_PATTERNS or text[:2] == "GR") and text[2:3].isdigit():
        return normalise_eu_vat(text)
    if len(text) == 10 and text.isdigit():
        return _nip_digits(text)
    if not re.fullmatch(r"[A-Z0-9]{2,20}", text):
        raise ValueError("a tax ID has 2-20 letters and digits")
    return text


def check_email(value: str) -> str:
    """Validate an e-mail address (practical RFC 5322 subset) and return it stripped.

    Raises:
        ValueError: the value is not a plausible address.
    """
    text = value.strip()
    if len(text) > 254 or not _EMAIL.match(text) or ".." in text:
        raise ValueError("not a valid e-mail address")
    return text


def check_phone(value: str) -> str:
    """Validate a phone number: digits with the usual separators, optional ``+`` and extension."""
    text = value.strip()
    body = text[1:] if text[:1] == "+" else text
    if 3 <= len(body) <= 32 and body[-3:].isdigit() and not body.strip(_PHONE_CHARS):
        return text  # the common case: what _PHONE matches without an extension, 3+ digits
    # a text _PHONE matches has only ASCII digits, so \d counts what str.isdigit would
    if not _PHONE.match(text) or not _THREE_DIGITS.match(text):
        raise ValueError("not a valid phone number")
    return text


def check_country(value: str) -> str:
    """Return an ISO 3166-1 alpha-2 code upper-cased; raise ValueError for anything else."""
    text = value.strip().upper()
    if text not in COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return text


def check_currency(value: str) -> str:
    """Return an ISO 4217 code upper-cased; raise ValueError for anything else."""
    text = value.strip().upper()
    if text not in CURRENCIES:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return text


def check_utc(value: datetime) -> datetime:
    """Return an aware datetime converted to UTC; a naive datetime is refused.

    Raises:
        ValueError: the datetime carries no time zone.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime refused: give a time zone (instants are UTC)")
    return value.astimezone(UTC)


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
"""A non-empty single-line text of at most 255 characters, stripped."""
LongText = Annotated[str, StringConstraints(max_length=32000)]
"""A free text (description, notes)."""
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
"""A business code or number (SKU, document number)."""
Ref = Annotated[str, StringConstraints(min_length=1, max_length=255)]
"""The canonical id of another record (given by the state store's cross-reference)."""
Nip = Annotated[str, AfterValidator(normalise_nip)]
EuVat = Annotated[str, AfterValidator(normalise_eu_vat)]
TaxId = Annotated[str, AfterValidator(normalise_tax_id)]
Email = Annotated[str, AfterValidator(check_email)]
Phone = Annotated[str, AfterValidator(check_phone)]
CountryCode = Annotated[str, AfterValidator(check_country)]
CurrencyCode = Annotated[str, AfterValidator(check_currency)]
UtcDatetime = Annotated[datetime, AfterValidator(check_utc)]
"""A timezone-aware instant, normalised to UTC; naive values are refused."""
Quantity = Annotated[Decimal, Field(max_digits=18, decimal_places=6)]
Amount = Annotated[Decimal, Field(max_digits=18, decimal_places=6)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]

PLAIN_STR_CHECKS: frozenset[Callable[[str], str]] = frozenset(
    {
        normalise_nip,
        normalise_eu_vat,
        normalise_tax_id,
        check_email,
        check_phone,
        check_country,
        check_currency,
    }
)
"""After-validators of ``Annotated[str, AfterValidator(check)]`` types that take any ``str`` and
raise nothing but ValueError: for an exact ``str`` value, validating through the type is calling
``check`` (pydantic adds nothing but the "Value error, " its message drops again)."""


class CanonicalModel(BaseModel):
    """Base of every canonical model: typed fields plus untyped custom fields named ``x_...``."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    @model_validator(mode="after")
    def _only_custom_extras(self) -> Self:
        unknown = sorted(k for k in (self.model_extra or {}) if not k.startswith("x_"))
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)}: custom fields must start with 'x_'"
            )
        return self


class Money(CanonicalModel):
    """An amount of money: a Decimal amount and its ISO 4217 currency, always together."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount: Amount
    currency: CurrencyCode

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


__all__ = [
    "PLAIN_STR_CHECKS",
    "Amount",
    "CanonicalModel",
    "Code",
    "CountryCode",
    "CurrencyCode",
    "Email",
    "EuVat",
    "LongText",
    "Money",
    "Nip",
    "Percent",
    "Phone",
    "Quantity",
    "Ref",
    "TaxId",
    "Text",
    "Url",
    "UtcDatetime",
    "check_country",
    "check_currency",
    "check_email",
    "check_phone",
    "check_utc",
    "nip_checksum_ok",
    "normalise_eu_vat",
    "normalise_nip",
    "normalise_tax_id",
]
