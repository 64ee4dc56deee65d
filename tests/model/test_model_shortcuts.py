"""validator_for and its text shortcuts give what the field's pydantic type gives, errors too."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import pytest
from annotated_types import MaxLen, MinLen
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AfterValidator, StringConstraints, TypeAdapter, ValidationError

from tandem.model import canonical_field, validate_field, validator_for
from tandem.model.shortcuts import ASK_TYPE, str_shortcut
from tandem.model.types import Text, check_phone, nip_checksum_ok, normalise_tax_id

TRICKY = [
    " ", "\t", "\n", "\x0b", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\u200b",
    "\ud800", "\udfff", "ż", "Ł", "😀", "a", "Z", "0", "5", "-", ".", "/", "@", "+", "²", "٣",
]  # fmt: skip
"""Characters where stripping, unicode validity or digit rules differ between definitions."""

TEXTS = st.one_of(
    st.lists(st.sampled_from(TRICKY) | st.characters(), max_size=30).map("".join),
    st.builds(
        lambda char, count, edge: edge + char * count + edge,
        st.sampled_from(["a", "ż", "😀"]),
        st.sampled_from([0, 1, 18, 19, 20, 78, 79, 80, 253, 254, 255, 256]),
        st.sampled_from(["", " ", "\x1c", "\u3000"]),
    ),
    st.sampled_from(["5261040828", "526-104-08-28", "PL 526 104 08 28", "DE123456789", "a@b.pl"]),
)

FIELDS = [
    ("customer", "name"),  # Text: stripped, 1..255
    ("customer", "number"),  # Code: stripped, 1..80
    ("address", "street"),  # LongText: at most 32000, not stripped
    ("contact", "customer"),  # Ref: 1..255, not stripped
    ("address", "postal_code"),  # optional str with max_length 20: bounded, not stripped
    ("customer", "tax_id"),
    ("customer", "nip"),
    ("customer", "vat_id"),
    ("customer", "email"),
    ("customer", "phone"),
    ("address", "country"),
    ("customer", "currency"),
]


def through_pydantic(model: str, field: str, value: Any) -> tuple[str, Any]:
    """What the field's own pydantic type says: the value, or the messages of its errors."""
    adapter: TypeAdapter[Any] = TypeAdapter(canonical_field(model, field).annotation)
    try:
        return "ok", adapter.validate_python(value)
    except ValidationError as exc:
        return "refused", "; ".join(
            e["msg"].removeprefix("Value error, ") for e in exc.errors(include_url=False)
        )


def through_validator(model: str, field: str, value: Any) -> tuple[str, Any]:
    try:
        return "ok", validator_for(model, field)(value)
    except ValueError as exc:
        return "refused", str(exc)


@pytest.mark.parametrize(("model", "field"), FIELDS)
@settings(max_examples=150, deadline=None)
@given(value=TEXTS)
def test_text_gives_what_the_pydantic_type_gives(model: str, field: str, value: str) -> None:
    assert through_validator(model, field, value) == through_pydantic(model, field, value)


@pytest.mark.parametrize(
    "value", [None, 5, 5261040828, b"5261040828", ["x"], True, 1.5, "  padded  "]
)
@pytest.mark.parametrize(("model", "field"), FIELDS)
def test_other_values_go_through_the_type(model: str, field: str, value: Any) -> None:
    assert through_validator(model, field, value) == through_pydantic(model, field, value)


def test_validate_field_is_the_resolved_validator() -> None:
    assert validate_field("customer", "tax_id", "526-104-08-28") == "5261040828"
    assert validate_field("customer", "tax_id", "pl 526-104-08-28") == "PL5261040828"
    with pytest.raises(ValueError, match=r"^invalid NIP checksum$"):
        validate_field("customer", "tax_id", "1234567890")
    with pytest.raises(ValueError, match=r"^String should have at least 1 character$"):
        validate_field("customer", "name", "   ")
    assert validator_for("customer", "x_anything")(object) is object  # custom: unchecked
    with pytest.raises(ValueError, match="no field 'nope'"):
        validator_for("customer", "nope")


LENGTH_BOUNDED: list[Any] = [
    Annotated[str | None, MaxLen(4)],
    Annotated[Optional[str], MinLen(2), MaxLen(4)],  # noqa: UP045 - the other spelling
    Annotated[str, MinLen(1)],
]


@pytest.mark.parametrize("annotation", LENGTH_BOUNDED)
@settings(max_examples=150, deadline=None)
@given(value=TEXTS)
def test_a_length_bounded_text_gives_what_pydantic_gives(annotation: Any, value: str) -> None:
    shortcut = str_shortcut(annotation)
    assert shortcut is not None
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    result = shortcut(value)
    if result is not ASK_TYPE:
        assert adapter.validate_python(value) == result


def test_shortcuts_exist_only_for_the_known_shapes() -> None:
    assert str_shortcut(Text) is not None
    assert str_shortcut(Annotated[str | None, MaxLen(20)]) is not None
    assert str_shortcut(Annotated[str | int | None, MaxLen(20)]) is None
    assert str_shortcut(Annotated[str | None, MaxLen(20), "extra"]) is None
    assert str_shortcut(Annotated[bytes | None, MaxLen(20)]) is None
    assert str_shortcut(Text | None) is not None
    assert str_shortcut(Annotated[str, AfterValidator(normalise_tax_id)]) is not None
    assert str_shortcut(Annotated[str, AfterValidator(str.strip)]) is None  # not a known check
    assert str_shortcut(Annotated[str, StringConstraints(pattern="^a")]) is None
    assert str_shortcut(Annotated[str, StringConstraints(to_upper=True)]) is None
    assert str_shortcut(Annotated[str, StringConstraints(max_length=5), "extra"]) is None
    assert str_shortcut(Annotated[bytes, StringConstraints(max_length=5)]) is None
    assert str_shortcut(str) is None
    assert str_shortcut(Text | int) is None


def test_a_text_shortcut_asks_the_type_whenever_it_is_not_sure() -> None:
    shortcut = str_shortcut(Text)
    assert shortcut is not None
    assert shortcut("Acme") == "Acme"
    assert shortcut("Kraków 😀") == "Kraków 😀"
    for unsure in ("", " Acme", "Acme\t", "\x1cAcme", "a" * 256, "bad \ud800"):
        assert shortcut(unsure) is ASK_TYPE


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_nip_checksum_is_the_same_for_any_decimal_digits(ascii_digits: str) -> None:
    arabic_indic = ascii_digits.translate({ord(d): 0x0660 + int(d) for d in "0123456789"})
    assert nip_checksum_ok(arabic_indic) == nip_checksum_ok(ascii_digits)


@pytest.mark.parametrize(
    ("phone", "valid"),
    [
        ("+48 600 100 200", True),
        ("1 2 3", True),
        ("1-2", False),
        ("( 1 )", False),
        ("1  x 5", False),
        ("1  x 56", True),
    ],
)
def test_a_phone_needs_three_digits(phone: str, valid: bool) -> None:
    if valid:
        assert check_phone(phone) == phone
    else:
        with pytest.raises(ValueError, match="not a valid phone number"):
            check_phone(phone)
