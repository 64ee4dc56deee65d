"""How the conflict commands show a field's values to a person: as written in the systems,
not as Python's reprs (``Decimal('3000.10')``, ``datetime.date(2023, 1, 1)``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tandem.pipeline.current import shown


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("3000.10"), "3000.10"),
        (date(2023, 1, 1), "2023-01-01"),
        (datetime(2026, 11, 29, 10, 5, tzinfo=UTC), "2026-11-29T10:05:00+00:00"),
        (None, "null"),
        (True, "true"),
        (12, "12"),
        ("Gdańsk ", "'Gdańsk '"),  # text quoted: a trailing space shows
        ("", "''"),
    ],
)
def test_values_are_shown_as_the_systems_write_them(value: object, text: str) -> None:
    assert shown(value) == text
