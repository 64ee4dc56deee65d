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


class _DriverError(Exception):
    """A driver's error as SQLAlchemy wraps it: MariaDB codes in ``args``, PostgreSQL's
    ``sqlstate``."""

    def __init__(self, *args: object, sqlstate: str | None = None) -> None:
        super().__init__(*args)
        self.sqlstate = sqlstate


def _wrapped(orig: Exception) -> StoreError:
    import sqlalchemy as sa

    try:
        try:
            raise sa.exc.OperationalError("SELECT 1", {}, orig)
        except sa.exc.OperationalError as db_error:
            raise StoreError("state store: take work failed") from db_error
    except StoreError as exc:
        return exc


def test_deadlocks_are_told_from_other_database_errors() -> None:
    from tandem.dbretry import is_deadlock

    assert is_deadlock(_wrapped(_DriverError(1213, "Deadlock found when trying to get lock")))
    assert is_deadlock(_wrapped(_DriverError(1205, "Lock wait timeout exceeded")))
    assert is_deadlock(_wrapped(_DriverError("deadlock detected", sqlstate="40P01")))
    assert is_deadlock(_wrapped(_DriverError("could not serialize", sqlstate="40001")))
    assert not is_deadlock(_wrapped(_DriverError(1146, "Table doesn't exist")))
    assert not is_deadlock(_wrapped(_DriverError("syntax error", sqlstate="42601")))
    assert not is_deadlock(StoreError("no database behind it"))


def test_a_take_that_loses_a_deadlock_runs_again(
    store: StateStore, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tandem.store import work

    enqueue(store, name, ["A", "B"])
    real_take = work.take
    calls: list[int] = []

    def deadlocked_once(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise _wrapped(_DriverError(1213, "Deadlock found")).__cause__  # type: ignore[misc]
        return real_take(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(work, "take", deadlocked_once)
    items = store.take_work(name)
    assert sorted(i.record_key for i in items) == ["A", "B"] and len(calls) == 2

    # Any other error is not retried.
    def fails(*args: object, **kwargs: object) -> object:
        calls.append(1)
        raise _wrapped(_DriverError(1146, "gone")).__cause__  # type: ignore[misc]

    calls.clear()
    monkeypatch.setattr(work, "take", fails)
    with pytest.raises(StoreError, match="take work"):
        store.take_work(name)
    assert len(calls) == 1
    # Nor is a deadlock inside an outer transaction: only that transaction's owner may rerun it.
    calls.clear()
    monkeypatch.setattr(work, "take", deadlocked_once)
    with pytest.raises(StoreError, match="take work"), store.transaction():
        store.take_work(name)
    assert len(calls) == 1
