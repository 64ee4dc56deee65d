"""A read does not wait for a batch committing on another thread; it sees the last commit.

The engine plans batch k+1 while batch k commits on a worker thread: the plan's reads of
links and synced state must neither wait for that commit nor see it half done.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from tandem.connectors.base import Cursor
from tandem.store import StateStore, SyncedState

AT = datetime(2024, 5, 1, tzinfo=UTC)
WAIT = 30.0
"""A guard against a hang, not a timing: the writer holds its transaction until the read is
done, so a read that waited for the writer would never finish."""


def test_a_read_sees_the_last_commit_while_a_writer_holds_its_transaction(
    store: StateStore, name: str
) -> None:
    store.link(name, "1", "001A")
    store.save_synced([SyncedState(name, "1", "001A", {"v": 1}, AT, AT)])
    writing, read_done = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            with store.transaction():
                store.link(name, "2", "001B")
                store.save_synced([SyncedState(name, "1", "001A", {"v": 2}, AT, AT)])
                store.set_cursor(name, name, "erp", Cursor(AT, "2"))
                writing.set()
                if not read_done.wait(WAIT):
                    failures.append(AssertionError("the read never finished"))
        except BaseException as exc:  # reported to the test thread
            failures.append(exc)
            writing.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert writing.wait(WAIT)
    try:
        partners = store.partners(name, "erp", ["1", "2"])
        synced = store.synced(name, "erp", ["1"])
        cursor = store.cursor(name, name, "erp")
    finally:
        read_done.set()
        thread.join(WAIT)
    assert not failures
    assert partners == {"1": "001A"}
    assert synced["1"].values == {"v": 1}
    assert cursor is None
    # Once committed, the writer's work is what every read sees.
    assert store.partners(name, "erp", ["1", "2"]) == {"1": "001A", "2": "001B"}
    assert store.synced(name, "erp", ["1"])["1"].values == {"v": 2}
    later = store.cursor(name, name, "erp")
    assert later is not None and later.key == "2"
