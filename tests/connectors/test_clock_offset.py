"""ClockOffset: a system's clock told as a lower bound from its answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tandem.connectors.clock import ClockOffset


def test_unknown_until_observed() -> None:
    offset = ClockOffset()
    assert offset.now() is None and offset.offset is None and offset.stale()


def test_an_observation_sets_the_offset_against_the_arrival() -> None:
    offset = ClockOffset()
    arrival = datetime(2026, 11, 28, 10, 0, 30, tzinfo=UTC)
    offset.note(datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC), arrival)
    assert offset.offset == timedelta(seconds=-30)
    assert not offset.stale()
    now = offset.now()
    assert now is not None
    assert now <= datetime.now(UTC) - timedelta(seconds=29)


def test_a_naive_system_time_is_utc() -> None:
    offset = ClockOffset()
    arrival = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
    offset.note(datetime(2026, 11, 28, 10, 0, 5), arrival)
    assert offset.offset == timedelta(seconds=5)


def test_an_old_observation_is_stale() -> None:
    offset = ClockOffset(max_age=0.0)
    offset.note(datetime.now(UTC))
    offset._seen -= 1.0  # an observation one second old
    assert offset.stale()
    assert offset.now() is not None  # still told until a new one is taken


def test_the_latest_observation_stands_so_a_clock_set_back_is_followed() -> None:
    offset = ClockOffset()
    arrival = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
    offset.note(arrival, arrival)
    offset.note(arrival - timedelta(seconds=90), arrival)  # the system's clock set back
    assert offset.offset == timedelta(seconds=-90)
