"""values_equal: numeric-normalised, instant-based, otherwise strict."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.mapping import values_equal
from tandem.model import Money


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Decimal("10.0"), 10.0),
        (Decimal("10.00"), 10),
        (0.1, Decimal("0.1")),
        (None, None),
        ("abc", "abc"),
        (True, True),
        (
            datetime(2024, 1, 1, 12, tzinfo=UTC),
            datetime(2024, 1, 1, 14, tzinfo=timezone(timedelta(hours=2))),
        ),
        (datetime(2024, 1, 1, 12), datetime(2024, 1, 1, 12, tzinfo=UTC)),
        (date(2024, 1, 1), date(2024, 1, 1)),
        ({"a": Decimal("1.0")}, {"a": 1}),
        ([1, "x"], (Decimal(1), "x")),
        (Money(amount=Decimal("1.0"), currency="EUR"), Money(amount=Decimal("1"), currency="EUR")),
        (float("nan"), float("nan")),
    ],
)
def test_equal(a: Any, b: Any) -> None:
    assert values_equal(a, b)
    assert values_equal(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (None, ""),
        (None, 0),
        ("abc ", "abc"),
        ("ABC", "abc"),
        (True, 1),
        (False, 0),
        ("10", 10),
        (Decimal("10.01"), 10),
        (date(2024, 1, 1), datetime(2024, 1, 1, tzinfo=UTC)),
        (datetime(2024, 1, 1, 12, tzinfo=UTC), datetime(2024, 1, 1, 12, 0, 1, tzinfo=UTC)),
        ({"a": 1}, {"a": 1, "b": 2}),
        ([1], [1, 2]),
        (Money(amount=Decimal(1), currency="EUR"), Money(amount=Decimal(1), currency="PLN")),
    ],
)
def test_not_equal(a: Any, b: Any) -> None:
    assert not values_equal(a, b)
    assert not values_equal(b, a)


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=4))
def test_decimal_equals_its_rescaled_self(value: Decimal) -> None:
    assert values_equal(value, value.quantize(Decimal("0.000001")))
    assert values_equal(value, float(value)) == (Decimal(str(float(value))) == value)
