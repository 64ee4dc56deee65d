"""getUpdated / getDeleted windows, with a clock the test controls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sforg_helpers import FakeClock, make_org

from tandem.sandbox.salesforce import ApiError, Org

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def org(tmp_path: Path, clock: FakeClock) -> Iterator[Org]:
    org = make_org(tmp_path / "org.db", clock=clock, example=False)
    yield org
    org.close()


def test_updated_window(org: Org, clock: FakeClock) -> None:
    clock.now = T0 + timedelta(seconds=30)
    a = org.create("Account", {"Name": "A"})  # 10:00:30
    clock.now = T0 + timedelta(minutes=2, seconds=5)
    b = org.create("Account", {"Name": "B"})  # 10:02:05
    clock.now = T0 + timedelta(minutes=5)
    org.update("Account", a, {"Phone": "1"})  # 10:05:00
    clock.now = T0 + timedelta(minutes=10, seconds=45)
    out = org.get_updated("Account", T0, T0 + timedelta(minutes=4, seconds=59))
    # Seconds are dropped: the window is [10:00, 10:04); a moved on to 10:05.
    assert out == {"ids": [b], "latestDateCovered": "2024-05-01T10:04:00.000+0000"}
    out = org.get_updated("Account", T0, T0 + timedelta(hours=1))
    # The window never passes the current minute.
    assert out == {"ids": [b, a], "latestDateCovered": "2024-05-01T10:10:00.000+0000"}
    # latestDateCovered is the next start: nothing is missed, nothing repeated.
    clock.now = T0 + timedelta(minutes=11, seconds=30)
    org.update("Account", b, {"Phone": "2"})
    clock.now = T0 + timedelta(minutes=13)
    nxt = org.get_updated("Account", T0 + timedelta(minutes=10), clock.now)
    assert nxt["ids"] == [b]
    org.delete("Account", a)
    later = org.get_updated("Account", T0, clock.now + timedelta(minutes=5))
    assert a not in later["ids"]


def test_deleted_window_and_tombstones(org: Org, clock: FakeClock) -> None:
    a = org.create("Account", {"Name": "A"})
    b = org.create("Account", {"Name": "B"})
    clock.now = T0 + timedelta(minutes=1, seconds=10)
    org.delete("Account", a)
    clock.now = T0 + timedelta(minutes=3)
    org.delete("Account", b)
    org.empty_recycle_bin([b])  # gone for good, still listed
    clock.now = T0 + timedelta(minutes=20)
    out = org.get_deleted("Account", T0, clock.now)
    assert out["deletedRecords"] == [
        {"id": a, "deletedDate": "2024-05-01T10:01:10.000+0000"},
        {"id": b, "deletedDate": "2024-05-01T10:03:00.000+0000"},
    ]
    assert out["latestDateCovered"] == "2024-05-01T10:20:00.000+0000"
    assert out["earliestDateAvailable"] == "2024-04-16T10:20:00.000+0000"
    assert org.get_deleted("Account", T0 + timedelta(minutes=2), clock.now)["deletedRecords"] == [
        {"id": b, "deletedDate": "2024-05-01T10:03:00.000+0000"}
    ]
    # Undelete takes a record off the delete log and back into getUpdated.
    org.undelete([a])
    assert [d["id"] for d in org.get_deleted("Account", T0, clock.now)["deletedRecords"]] == [b]
    clock.advance(minutes=1)
    assert a in org.get_updated("Account", T0 + timedelta(minutes=19), clock.now)["ids"]


def test_old_deletes_fall_out_of_the_log(org: Org, clock: FakeClock) -> None:
    a = org.create("Account", {"Name": "A"})
    org.delete("Account", a)
    clock.advance(days=16)
    out = org.get_deleted("Account", T0, clock.now)
    assert out["deletedRecords"] == []
    # earliestDateAvailable after start tells the client a full resync is needed.
    assert out["earliestDateAvailable"] > "2024-05-01T10:00:00.000+0000"


def test_bad_windows(org: Org, clock: FakeClock) -> None:
    with pytest.raises(ApiError) as info:
        org.get_updated("Account", T0, T0 - timedelta(hours=1))
    assert (info.value.status, info.value.error_code) == (400, "INVALID_REPLICATION_DATE")
    clock.advance(days=40)
    with pytest.raises(ApiError) as info:
        org.get_updated("Account", T0, clock.now)
    assert "30 days" in info.value.message
    with pytest.raises(ApiError) as info:
        org.get_deleted("Nope__c", T0, clock.now)
    assert info.value.status == 404
    # Naive datetimes are taken as UTC.
    out = org.get_updated("Account", clock.now.replace(tzinfo=None) - timedelta(days=1), clock.now)
    assert out["ids"] == []
