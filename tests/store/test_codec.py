"""tandem.codec: exact JSON round-trips and order-independent hashes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem import codec
from tandem.codec import dumps, encode_once, loads, stable_hash

aware = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    aware,
    st.binary(max_size=64),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
    ),
    max_leaves=20,
)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same type all the way down (Decimal exponent included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal):
        return bool(a.as_tuple() == b.as_tuple())
    if isinstance(a, datetime):
        return bool(a == b and b.tzinfo == UTC)
    return bool(a == b)


@given(values)
def test_round_trip_is_exact(value: Any) -> None:
    back = loads(dumps(value))
    expected = _utc(value)
    assert same(back, expected), (value, back)


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc(v) for v in value]
    return value


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_decimal_keeps_its_exponent(value: Decimal) -> None:
    assert str(loads(dumps(value))) == str(value)


def test_tagged_form_is_plain_json() -> None:
    text = dumps(
        {
            "price": Decimal("10.50"),
            "day": date(2024, 5, 1),
            "at": datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
            "raw": b"\x00\xff",
        }
    )
    assert json.loads(text) == {
        "at": {"$dt": "2024-05-01T10:00:00.000000+00:00"},
        "day": {"$date": "2024-05-01"},
        "price": {"$dec": "10.50"},
        "raw": {"$bytes": "AP8="},
    }


def test_dicts_that_look_like_tags_survive() -> None:
    tricky = {"$dec": "1", "nested": {"$date": 5}, "$map": {"$bytes": "x"}}
    assert loads(dumps(tricky)) == tricky
    assert loads(dumps({"$x": 1})) == {"$x": 1}


def test_tuples_become_lists() -> None:
    assert loads(dumps((1, (2, 3)))) == [1, [2, 3]]


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        (datetime(2024, 5, 1, 10), ValueError, "naive datetime 2024-05-01T10:00:00"),
        (float("nan"), ValueError, "non-finite"),
        ({1: "a"}, TypeError, "keys must be str"),
        ({1, 2}, TypeError, "type set"),
        (object(), TypeError, "type object"),
    ],
)
def test_refused_values_are_named(value: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        dumps(value)


@pytest.mark.parametrize(
    "text",
    [
        '{"$dec": "ten"}',
        '{"$date": "2024-13-01"}',
        '{"$dt": "2024-05-01T10:00:00"}',
        '{"$bytes": "!!"}',
        '{"$dec": 10}',
        '{"$map": 1}',
        "{nope",
    ],
)
def test_malformed_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)


def test_hash_ignores_decimal_form_dict_order_and_zone() -> None:
    assert stable_hash(Decimal("10.0")) == stable_hash(Decimal("10")) == stable_hash(Decimal("1E1"))
    assert stable_hash(Decimal("0.00")) == stable_hash(Decimal("-0"))
    assert stable_hash({"a": 1, "b": [Decimal("1.50")]}) == stable_hash(
        {"b": [Decimal("1.5")], "a": 1}
    )
    warsaw = timezone(timedelta(hours=2))
    assert stable_hash(datetime(2024, 5, 1, 12, tzinfo=warsaw)) == stable_hash(
        datetime(2024, 5, 1, 10, tzinfo=UTC)
    )
    digest = stable_hash({"x": 1})
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_hash_tells_values_and_types_apart() -> None:
    distinct = [
        10,
        10.0,
        Decimal("10"),
        "10",
        Decimal("10.01"),
        [1, 2],
        [2, 1],
        None,
        {"$dec": "10"},
    ]
    assert len({stable_hash(v) for v in distinct}) == len(distinct)
    # More digits than the default decimal context keeps still count.
    assert stable_hash(Decimal("1." + "0" * 40 + "1")) != stable_hash(Decimal("1"))


@given(st.dictionaries(st.text(max_size=5), scalars, max_size=8), st.randoms())
def test_hash_is_order_independent(mapping: dict[str, Any], rnd: Any) -> None:
    items = list(mapping.items())
    rnd.shuffle(items)
    assert stable_hash(dict(items)) == stable_hash(mapping)


@given(st.decimals(allow_nan=False, allow_infinity=False), st.integers(0, 5))
def test_hash_of_decimal_ignores_trailing_zeros(value: Decimal, zeros: int) -> None:
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    padded = Decimal((sign, (*digits, *([0] * zeros)), exponent - zeros))
    assert padded == value
    assert stable_hash(padded) == stable_hash(value)


@given(st.dictionaries(st.text(max_size=8), scalars, max_size=8))
def test_a_flat_dict_gets_the_text_of_the_general_path(mapping: dict[str, Any]) -> None:
    # Inside a list the dict takes the general path: same text either way.
    assert dumps(mapping) == dumps([mapping])[1:-1]


@given(values)
def test_any_dict_gets_the_text_of_the_general_path(value: Any) -> None:
    mapping = {"v": value, "$w": value, "x": [value]}
    assert dumps(mapping) == dumps([mapping])[1:-1]
    assert loads(dumps(mapping)) == loads(dumps([mapping]))[0]


@pytest.mark.parametrize(
    ("value", "error", "words"),
    [
        ({"at": datetime(2024, 5, 1, 10)}, ValueError, "naive datetime 2024-05-01T10:00:00"),
        ({"x": float("inf")}, ValueError, "non-finite"),
        ({"s": {1}}, TypeError, "type set"),
        ({"a": 1, 2: "b"}, TypeError, "keys must be str"),
    ],
)
def test_refused_values_in_a_dict_are_named(value: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        dumps(value)


def test_encode_once_reuses_the_text_of_the_same_dict() -> None:
    shared = {"name": "Acme", "limit": Decimal("10.50")}
    twin = dict(shared)
    with encode_once():
        first = dumps(shared)
        assert dumps(shared) is first
        twin["name"] = "Other"  # an equal-looking dict is its own value
        assert loads(dumps(twin)) == {"name": "Other", "limit": Decimal("10.50")}
        with encode_once():  # a nested block shares the outer memory
            assert dumps(shared) is first
        assert dumps([shared]) == f"[{first}]"  # only top-level dicts are remembered
    shared["name"] = "Changed"  # after the block every call encodes again
    assert loads(dumps(shared))["name"] == "Changed"


def test_keys_found_good_once_still_get_their_values_checked() -> None:
    keys_first = {"a": 1, "b": "x"}
    assert dumps(keys_first) == '{"a":1,"b":"x"}'
    # Same keys, values the flat path must not take as they are.
    assert dumps({"a": [1, Decimal("2.0")], "b": {"$dec": 1}}) == (
        '{"a":[1,{"$dec":"2.0"}],"b":{"$map":{"$dec":1}}}'
    )
    with pytest.raises(ValueError, match="non-finite"):
        dumps({"a": float("nan"), "b": "x"})
    assert dumps({"a": 0.5, "b": None}) == '{"a":0.5,"b":null}'
    # A "$" key is never taken for a remembered one.
    assert dumps({"$a": 1, "b": "x"}) == '{"$map":{"$a":1,"b":"x"}}'


def test_the_memory_of_key_tuples_stays_bounded() -> None:
    for n in range(codec._GOOD_KEYS_MAX + 10):
        assert dumps({f"k{n}": n}) == f'{{"k{n}":{n}}}'
    assert 0 < len(codec._GOOD_KEYS) <= codec._GOOD_KEYS_MAX
