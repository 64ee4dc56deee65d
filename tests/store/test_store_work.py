"""The work queue: de-duplicated while pending, taken under a lease, retaken after a crash."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tandem.errors import StoreError
from tandem.store import StateStore

from .conftest import FakeClock


def enqueue(store: StateStore, flow: str, keys: list[str], **kw: object) -> int:
    return store.enqueue(
        flow=flow,
        entity="customer",
        side="crm",
        record_keys=keys,
        reason="retry",
        **kw,  # type: ignore[arg-type]
    )


def test_pending_records_are_not_queued_twice(store: StateStore, name: str) -> None:
    assert enqueue(store, name, ["A", "B", "A"]) == 2
    assert enqueue(store, name, ["B", "C"]) == 1
    items = store.take_work(name)
    assert sorted(i.record_key for i in items) == ["A", "B", "C"]
    assert {(i.entity, i.side, i.reason, i.status, i.attempts) for i in items} == {
        ("customer", "crm", "retry", "taken", 1)
    }
    # While taken, a new change to the same record is queued again (it must be re-read).
    assert enqueue(store, name, ["A"]) == 1


def test_only_due_items_are_taken(store: StateStore, name: str, clock: FakeClock) -> None:
    enqueue(store, name, ["later"], not_before=clock.now + timedelta(seconds=60))
    enqueue(store, name, ["now"])
    assert [i.record_key for i in store.take_work(name)] == ["now"]
    assert store.take_work(name) == []
    clock.advance(61)
    assert [i.record_key for i in store.take_work(name)] == ["later"]


def test_an_earlier_enqueue_moves_the_due_time(
    store: StateStore, name: str, clock: FakeClock
) -> None:
    enqueue(store, name, ["A"], not_before=clock.now + timedelta(hours=1))
    assert enqueue(store, name, ["A"]) == 0
    assert [i.record_key for i in store.take_work(name)] == ["A"]


def test_limit_and_order(store: StateStore, name: str, clock: FakeClock) -> None:
    enqueue(store, name, ["c"], not_before=clock.now - timedelta(seconds=1))
    enqueue(store, name, ["a", "b"], not_before=clock.now - timedelta(seconds=5))
    assert [i.record_key for i in store.take_work(name, limit=2)] == ["a", "b"]
    assert [i.record_key for i in store.take_work(name, limit=2)] == ["c"]


def test_finish_removes_and_fail_delays(store: StateStore, name: str, clock: FakeClock) -> None:
    enqueue(store, name, ["A", "B"])
    a, b = sorted(store.take_work(name), key=lambda i: i.record_key)
    store.finish_work([a.id])
    store.fail_work([b.id], delay_seconds=30)
    assert store.stats(name)["pending_work"] == 1
    assert store.take_work(name) == []
    clock.advance(30)
    [again] = store.take_work(name)
    assert (again.id, again.record_key, again.attempts) == (b.id, "B", 2)
    with pytest.raises(StoreError, match="negative"):
        store.fail_work([b.id], delay_seconds=-1)


def test_a_crashed_taker_leaves_items_retakeable_after_the_lease(
    store: StateStore, name: str, clock: FakeClock
) -> None:
    enqueue(store, name, ["A"])
    [first] = store.take_work(name)
    clock.advance(299)
    assert store.take_work(name) == []
    clock.advance(2)
    [retaken] = store.take_work(name)
    assert (retaken.id, retaken.attempts, retaken.status) == (first.id, 2, "taken")


def test_flows_have_separate_queues(store: StateStore, name: str) -> None:
    enqueue(store, f"{name}a", ["A"])
    assert store.take_work(f"{name}b") == []
    assert len(store.take_work(f"{name}a")) == 1


def test_many_records(store: StateStore, name: str) -> None:
    keys = [str(i) for i in range(1200)]
    assert enqueue(store, name, keys) == 1200
    assert enqueue(store, name, keys) == 0
    taken = store.take_work(name, limit=1000)
    assert len(taken) == 1000
    store.finish_work([i.id for i in taken])
    assert len(store.take_work(name, limit=1000)) == 200


def test_two_engines_never_take_the_same_item(store_url: str, store: StateStore, name: str) -> None:
    import threading

    enqueue(store, name, [str(i) for i in range(300)])
    taken: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def worker(slot: int) -> None:
        try:
            with StateStore(store_url) as own:
                while batch := own.take_work(name, limit=7):
                    taken[slot].extend(item.id for item in batch)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = taken[0] + taken[1]
    assert len(every) == 300 and len(set(every)) == 300
