"""One delivered batch commits together or not at all."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tandem.connectors.base import Cursor
from tandem.errors import StoreError
from tandem.store import AuditEntry, StateStore, SyncedState

AT = datetime(2024, 5, 1, tzinfo=UTC)


class Boom(Exception):
    pass


def batch(store: StateStore, name: str) -> None:
    store.link(name, "42", "001A")
    store.save_synced([SyncedState(name, "42", "001A", {"v": 1}, AT, AT)])
    store.set_cursor(name, name, "erp", Cursor(AT, "42"))
    store.audit([AuditEntry(name, name, "crm", "001A", "create", None, {"v": 1}, "erp:x:42")])
    store.add_dead_letter(flow=name, entity=name, side="erp", record_key="9", message="bad")
    store.enqueue(flow=name, entity=name, side="erp", record_keys=["7"], reason="retry")


def nothing_saved(store: StateStore, name: str) -> None:
    assert store.count_links(name) == 0
    assert store.synced(name, "erp", ["42"]) == {}
    assert store.cursor(name, name, "erp") is None
    assert store.audit_log(flow=name) == []
    assert store.dead_letters(flow=name) == []
    assert store.take_work(name) == []


def test_an_exception_inside_rolls_everything_back(store: StateStore, name: str) -> None:
    with pytest.raises(Boom), store.transaction():
        batch(store, name)
        assert store.partner(name, "erp", "42") == "001A"  # visible inside
        raise Boom
    nothing_saved(store, name)


def test_a_store_error_inside_rolls_everything_back(store: StateStore, name: str) -> None:
    store.link(name, "1", "B")
    with pytest.raises(StoreError, match="already linked"), store.transaction():
        store.save_synced([SyncedState(name, "42", "001A", {"v": 1}, AT, AT)])
        store.link(name, "1", "C")
    assert store.synced(name, "erp", ["42"]) == {}


def test_a_clean_block_commits_everything(store: StateStore, name: str) -> None:
    with store.transaction():
        batch(store, name)
    assert store.count_links(name) == 1
    assert store.cursor(name, name, "erp") == Cursor(AT, "42")
    assert len(store.audit_log(flow=name)) == 1


def test_nested_blocks_join_the_outer_one(store: StateStore, name: str) -> None:
    with pytest.raises(Boom), store.transaction():
        with store.transaction():
            store.link(name, "42", "001A")
        raise Boom
    assert store.count_links(name) == 0


def test_outside_a_block_each_call_commits(store: StateStore, name: str) -> None:
    store.link(name, "42", "001A")
    with pytest.raises(StoreError):
        store.link(name, "42", "001B")
    assert store.partner(name, "erp", "42") == "001A"
