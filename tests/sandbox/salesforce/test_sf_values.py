"""Wire values: datetime parsing/formatting, coercion per field type, CSV cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.sandbox.salesforce import RecordError
from tandem.sandbox.salesforce.schema import FieldDef
from tandem.sandbox.salesforce.values import (
    coerce,
    format_datetime,
    from_csv,
    parse_datetime,
    to_csv,
    to_wire,
)

instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


@given(instants, st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_datetime_round_trip(moment: datetime, offset_min: int) -> None:
    text = format_datetime(moment)
    assert len(text) == 28 and text.endswith("+0000")
    assert parse_datetime(text) == moment
    local = moment.astimezone(timezone(timedelta(minutes=offset_min)))
    assert parse_datetime(local.isoformat()) == moment


@given(instants, instants)
def test_text_order_is_time_order(a: datetime, b: datetime) -> None:
    assert (format_datetime(a) < format_datetime(b)) == (a < b)


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T10:00:00Z",
        "2024-05-01T10:00:00.000+0000",
        "2024-05-01T10:00:00+00:00",
        "2024-05-01T12:00:00+02:00",
        "2024-05-01T10:00Z",
        "2024-05-01T10:00:00",
    ],
)
def test_datetime_forms(text: str) -> None:
    assert parse_datetime(text) == datetime(2024, 5, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2024-13-01T10:00:00Z", "yesterday", "2024-05-01", ""])
def test_not_datetimes(text: str) -> None:
    assert parse_datetime(text) is None


def field(ftype: str, **kw: object) -> FieldDef:
    return FieldDef(name="F__c", type=ftype, label="F", **kw)  # type: ignore[arg-type]


def test_numbers_round_half_up_to_scale() -> None:
    money = field("currency", precision=18, scale=2)
    # Rounded from the decimal text of the value, half up (not from its binary float).
    assert coerce(money, 1.005) == 1.01
    assert coerce(money, 2.675) == 2.68
    assert coerce(money, -2.675) == -2.68
    assert coerce(field("currency", precision=18, scale=0), 10.5) == 11.0
    assert coerce(field("currency", precision=18, scale=0), 11.5) == 12.0
    assert coerce(field("int", precision=9), 7.0) == 7
    with pytest.raises(RecordError):
        coerce(field("int", precision=9), 7.5)
    with pytest.raises(RecordError) as info:
        coerce(field("double", precision=5, scale=2), 1000.0)
    assert info.value.code == "NUMBER_OUTSIDE_VALID_RANGE"
    with pytest.raises(RecordError):
        coerce(money, float("nan"))


@given(st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False))
def test_two_place_values_are_kept(value: object) -> None:
    money = field("currency", precision=18, scale=2)
    assert coerce(money, float(value)) == float(value)  # type: ignore[arg-type]


def test_csv_cells() -> None:
    flag = field("boolean")
    assert [from_csv(flag, t) for t in ("true", "FALSE", "1", "0")] == [True, False, True, False]
    assert from_csv(flag, "#N/A") is None
    with pytest.raises(RecordError):
        from_csv(flag, "maybe")
    assert from_csv(field("int", precision=9), "42") == 42
    assert from_csv(field("double", precision=18, scale=2), "4.5") == 4.5
    with pytest.raises(RecordError):
        from_csv(field("double"), "4,5")
    assert to_csv(flag, 1) == "true" and to_csv(flag, None) == ""
    assert to_csv(field("currency"), 10.0) == "10" and to_csv(field("currency"), 0.5) == "0.5"
    assert to_wire(flag, 0) is False and to_wire(field("currency"), 3) == 3.0


def test_multipicklist_restricted() -> None:
    from tandem.sandbox.salesforce.schema import PicklistValue

    multi = field(
        "multipicklist",
        restricted=True,
        picklist=[PicklistValue("a", "a"), PicklistValue("b", "b")],
    )
    assert coerce(multi, "a;b") == "a;b"
    with pytest.raises(RecordError) as info:
        coerce(multi, "a;c")
    assert (
        info.value.code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" and "c" in info.value.message
    )
