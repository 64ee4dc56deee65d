"""A state store locked by another process past the store's wait raises ``StoreBusy``: a
``StoreError`` a continuous run rides out, distinct from one that must stop it.

The wait is shortened to 1 s here (30 s by default); the lock is held by a real second
process (SQLite) or a second session of the server (PostgreSQL, MariaDB).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlite_lock import write_locked

from tandem.errors import StoreBusy, StoreError
from tandem.store import StateStore, state_location
from tandem.store import engine as store_engine


@contextmanager
def locked(url: str, lease: str) -> Iterator[None]:
    """The row of ``lease`` locked by another process (SQLite: the whole database)."""
    if url.startswith("sqlite"):
        with write_locked(state_location(url)):
            yield
        return
    other = sa.create_engine(url)
    try:
        with other.connect() as conn, conn.begin():
            query = sa.text("SELECT holder FROM tandem_lease WHERE name = :name FOR UPDATE")
            assert conn.execute(query, {"name": lease}).scalar_one() == "me"
            yield
    finally:
        other.dispose()


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_engine, "LOCK_WAIT_SECONDS", 1)


def test_a_lock_held_past_the_wait_raises_store_busy(
    store_url: str, name: str, quick: None
) -> None:
    store = StateStore(store_url, auto_migrate=True)
    lease = f"flow:{name}"
    try:
        store.acquire_lease(lease, "me", 60)
        with locked(store_url, lease), pytest.raises(StoreBusy) as caught:
            store.acquire_lease(lease, "me", 60)  # a renewal
        assert isinstance(caught.value, StoreError)
        assert "the database is busy" in str(caught.value)
        assert f"lease {lease}" in str(caught.value)
        # nothing of it was saved, and the same call passes once the lock is gone
        assert store.acquire_lease(lease, "me", 60).holder == "me"
    finally:
        store.close()
