"""The last synced state of records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tandem.errors import StoreError
from tandem.store import StateStore, SyncedState

T1 = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
T2 = datetime(2024, 5, 2, 11, 30, tzinfo=UTC)


def state(entity: str, erp: str | None, crm: str | None, **values: object) -> SyncedState:
    return SyncedState(entity, erp, crm, dict(values), T1 if erp else None, T2 if crm else None)


def count(store: StateStore, entity: str) -> int:
    return sum(len(batch) for batch in store.iter_synced(entity))


def test_save_and_read_by_either_key(store: StateStore, name: str) -> None:
    values = {"name": "Acme", "limit": Decimal("1000.50"), "since": date(2020, 1, 2), "n": None}
    store.save_synced([SyncedState(name, "42", "001A", values, T1, T2)])
    by_erp = store.synced(name, "erp", ["42", "43"])
    assert list(by_erp) == ["42"]
    got = by_erp["42"]
    assert got == SyncedState(name, "42", "001A", values, T1, T2, deleted=False)
    assert str(got.values["limit"]) == "1000.50"
    assert store.synced(name, "crm", ["001A"])["001A"] == got


def test_save_again_updates_in_place(store: StateStore, name: str) -> None:
    store.save_synced([state(name, "42", "001A", v=1)])
    store.save_synced([state(name, "42", "001A", v=2)])
    assert store.synced(name, "erp", ["42"])["42"].values == {"v": 2}
    assert count(store, name) == 1


def test_state_that_gains_its_erp_key_later_is_not_duplicated(store: StateStore, name: str) -> None:
    store.save_synced([state(name, None, "001A", v="from crm")])
    assert store.synced(name, "crm", ["001A"])["001A"].erp_key is None
    store.save_synced([state(name, "42", "001A", v="both")])
    assert count(store, name) == 1
    got = store.synced(name, "erp", ["42"])["42"]
    assert (got.erp_key, got.crm_key, got.values) == ("42", "001A", {"v": "both"})


def test_state_that_gains_its_crm_key_later_is_not_duplicated(store: StateStore, name: str) -> None:
    store.save_synced([state(name, "42", None, v=1)])
    store.save_synced([state(name, "42", "001A", v=2)])
    assert count(store, name) == 1
    assert store.synced(name, "crm", ["001A"])["001A"].erp_key == "42"


def test_two_half_rows_are_merged(store: StateStore, name: str) -> None:
    store.save_synced([state(name, "42", None, v=1), state(name, None, "001A", v=2)])
    assert count(store, name) == 2
    store.save_synced([state(name, "42", "001A", v=3)])
    assert count(store, name) == 1
    assert store.synced(name, "crm", ["001A"])["001A"].values == {"v": 3}


def test_a_none_key_keeps_the_stored_one(store: StateStore, name: str) -> None:
    store.save_synced([state(name, "42", "001A", v=1)])
    store.save_synced([state(name, "42", None, v=2)])
    got = store.synced(name, "erp", ["42"])["42"]
    assert (got.crm_key, got.values) == ("001A", {"v": 2})


def test_last_state_in_one_call_wins(store: StateStore, name: str) -> None:
    store.save_synced(
        [
            state(name, "42", "001A", v=1),
            state(name, None, "001A", v=0),
            state(name, "42", "001A", v=2),
        ]
    )
    assert count(store, name) == 1
    assert store.synced(name, "erp", ["42"])["42"].values == {"v": 2}


def test_tombstones_and_delete(store: StateStore, name: str) -> None:
    gone = state(name, "42", "001A")
    gone.deleted = True
    store.save_synced([gone, state(name, "43", "001B")])
    assert store.synced(name, "erp", ["42"])["42"].deleted is True
    assert store.delete_synced(name, "crm", ["001A", "nope"]) == 1
    assert list(store.synced(name, "erp", ["42", "43"])) == ["43"]


def test_state_without_keys_is_refused(store: StateStore, name: str) -> None:
    with pytest.raises(StoreError, match="needs an ERP or a CRM key"):
        store.save_synced([state(name, None, None)])


def test_bulk_save_read_and_iterate(store: StateStore, name: str) -> None:
    states = [state(name, str(i), f"C{i}", i=i, price=Decimal(i) / 100) for i in range(1300)]
    store.save_synced(states)
    store.save_synced(states[:200])
    found = store.synced(name, "erp", [str(i) for i in range(1300)])
    assert len(found) == 1300
    assert found["777"].values == {"i": 777, "price": Decimal("7.77")}
    batches = list(store.iter_synced(name, batch=500))
    assert [len(b) for b in batches] == [500, 500, 300]
    assert {s.erp_key for b in batches for s in b} == {str(i) for i in range(1300)}


def test_entities_in_one_call(store: StateStore, name: str) -> None:
    store.save_synced([state(f"{name}a", "1", "A"), state(f"{name}b", "1", "B")])
    assert store.synced(f"{name}a", "erp", ["1"])["1"].crm_key == "A"
    assert store.synced(f"{name}b", "erp", ["1"])["1"].crm_key == "B"


def test_an_unstorable_value_names_record_and_field(store: StateStore, name: str) -> None:
    naive = datetime(2024, 5, 1, 10)
    with pytest.raises(StoreError, match=r"record \(erp '42', crm '001A'\), field since: .*naive"):
        store.save_synced([state(name, "41", "0019"), state(name, "42", "001A", since=naive)])
    assert store.synced(name, "erp", ["41"]) == {}


def test_a_crm_key_taken_over_by_another_record_leaves_the_old_one(
    store: StateStore, name: str
) -> None:
    store.save_synced([state(name, "1", "A", v=1), state(name, "2", "B", v=2)])
    store.save_synced([state(name, "1", "B", v=3)])
    assert store.synced(name, "crm", ["B"])["B"].erp_key == "1"
    old = store.synced(name, "erp", ["2"])["2"]
    assert (old.crm_key, old.values) == (None, {"v": 2})
    assert count(store, name) == 2


def test_relink_and_old_partner_saved_in_one_call(store: StateStore, name: str) -> None:
    store.save_synced([state(name, "1", "A", v=1), state(name, "2", "B", v=2)])
    store.save_synced([state(name, "2", None, v=4), state(name, "1", "B", v=3)])
    assert store.synced(name, "crm", ["B"])["B"].erp_key == "1"
    assert store.synced(name, "erp", ["2"])["2"].crm_key is None
