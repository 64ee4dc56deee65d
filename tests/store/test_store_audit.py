"""Audit log, status snapshot and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tandem.connectors.base import Cursor
from tandem.errors import StoreError
from tandem.store import AuditEntry, StateStore

from .conftest import FakeClock


def entry(flow: str, key: str, at: datetime, action: str = "update") -> AuditEntry:
    return AuditEntry(
        flow=flow,
        entity="customer",
        target="crm",
        record_key=key,
        action=action,
        before={"credit": Decimal("1.0")},
        after={"credit": Decimal("2.0")},
        cause=f"erp:customer:{key}@2024-05-01T10:00:00Z",
        at=at,
    )


def test_audit_round_trip_newest_first(store: StateStore, name: str, clock: FakeClock) -> None:
    entries = [entry(name, str(i % 3), clock.now + timedelta(seconds=i)) for i in range(6)]
    store.audit(entries)
    log = store.audit_log(flow=name)
    assert log == list(reversed(entries))
    assert log[0].after == {"credit": Decimal("2.0")}
    assert store.audit_log(flow=name, record_key="1") == [entries[4], entries[1]]
    assert store.audit_log(flow=name, entity="contact") == []
    assert len(store.audit_log(flow=name, limit=2)) == 2


def test_audit_entry_defaults_to_now() -> None:
    made = AuditEntry("f", "customer", "erp", "42", "create", None, {"a": 1}, "crm:customer:001")
    assert made.at.tzinfo == UTC
    assert abs(datetime.now(UTC) - made.at) < timedelta(minutes=1)


def test_stats(store: StateStore, name: str, clock: FakeClock) -> None:
    entity = f"{name}e"
    store.link_many(entity, [("1", "A"), ("2", "B")])
    store.add_dead_letter(flow=name, entity=entity, side="erp", record_key="1", message="bad")
    retrying = store.add_dead_letter(
        flow=name, entity=entity, side="erp", record_key="2", message="bad"
    )
    store.set_dead_letter_status([retrying], "retrying")
    store.add_conflict(flow=name, entity=entity, erp_key="1", field="phone")
    store.enqueue(flow=name, entity=entity, side="erp", record_keys=["1", "2"], reason="retry")
    store.take_work(name, limit=1)
    cursor = Cursor(clock.now, "2")
    store.set_cursor(name, entity, "erp", cursor)
    store.audit([entry(name, "A", clock.now)])
    stats = store.stats(name)
    assert stats["links"][entity] == 2
    assert (stats["open_dead_letters"], stats["retrying_dead_letters"]) == (1, 1)
    assert stats["open_conflicts"] == 1
    assert (stats["pending_work"], stats["taken_work"]) == (1, 1)
    assert stats["cursors"] == {entity: {"erp": cursor}}
    assert stats["last_audit_at"] == clock.now
    empty = store.stats(f"{name}none")
    assert empty["open_dead_letters"] == 0 and empty["last_audit_at"] is None


def test_prune_keeps_open_items(store: StateStore, name: str, clock: FakeClock) -> None:
    start = clock.now
    store.audit(
        [
            entry(name, "old", start - timedelta(days=40)),
            entry(name, "new", start + timedelta(days=2)),
        ]
    )
    dropped = store.add_dead_letter(flow=name, entity="c", side="erp", record_key="1", message="x")
    store.set_dead_letter_status([dropped], "dropped")
    store.add_dead_letter(flow=name, entity="c", side="erp", record_key="2", message="x")
    solved = store.add_conflict(flow=name, entity="c", erp_key="1", field="f")
    store.resolve_conflict(solved, "erp")
    store.add_conflict(flow=name, entity="c", erp_key="2", field="f")
    clock.advance(timedelta(days=31).total_seconds())
    assert store.prune(audit_days=30, dead_letter_days=30) >= 3
    assert [e.record_key for e in store.audit_log(flow=name)] == ["new"]
    assert [d.record_key for d in store.dead_letters(flow=name, status=None)] == ["2"]
    assert [c.erp_key for c in store.conflicts(flow=name, status=None)] == ["2"]
    with pytest.raises(StoreError, match="negative"):
        store.prune(audit_days=-1, dead_letter_days=1)
