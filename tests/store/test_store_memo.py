"""Dated snapshots, their expiry, and memos (what a connector learned) on every backend."""

from __future__ import annotations

from datetime import timedelta

from tandem.store import StateStore

from .conftest import FakeClock


def test_a_snapshot_carries_its_capture_time_until_it_is_expired(
    store: StateStore, name: str, clock: FakeClock
) -> None:
    assert store.dated_schema_snapshot(name, "crm", "Account") is None
    fields = {"Name": {"type": "string", "length": 255}}
    store.save_schema_snapshot(name, "crm", "Account", fields)
    store.save_schema_snapshot(name, "crm", "Contact", fields)
    store.save_schema_snapshot(f"{name}-other", "crm", "Account", fields)
    assert store.dated_schema_snapshot(name, "crm", "Account") == (fields, clock.now)

    clock.advance(300)
    store.save_schema_snapshot(name, "crm", "Account", fields)
    saved = store.dated_schema_snapshot(name, "crm", "Account")
    assert saved is not None and saved[1] == clock.now

    assert store.expire_schema_snapshots(name) == 2
    for source in ("Account", "Contact"):
        expired = store.dated_schema_snapshot(name, "crm", source)
        assert expired is not None
        assert expired[0] == fields  # kept for the next drift report
        assert expired[1].year == 1970 and expired[1].utcoffset() == timedelta(0)
    other = store.dated_schema_snapshot(f"{name}-other", "crm", "Account")
    assert other is not None and other[1].year > 2000


def test_a_memo_is_kept_per_flow_and_replaced(store: StateStore, name: str) -> None:
    assert store.memo(name, "crm.learned") is None
    store.save_memo(name, "crm.learned", {"bulk_seconds_per_row": 2.5e-5})
    store.save_memo(name, "erp.learned", {"x": 1})
    assert store.memo(name, "crm.learned") == {"bulk_seconds_per_row": 2.5e-5}
    store.save_memo(name, "crm.learned", {"bulk_seconds_per_row": 3e-5})
    assert store.memo(name, "crm.learned") == {"bulk_seconds_per_row": 3e-5}
    assert store.memo(f"{name}-other", "crm.learned") is None
