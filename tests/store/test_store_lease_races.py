"""The claim on a flow: timed by the database server's clock, not by each agent's own, and
taken by one of two agents that start at the same moment, the other told who holds it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tandem.store import StateStore
from tandem.store import store as store_module

BACKENDS = [
    pytest.param("pg_url", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb_url", id="mariadb", marks=pytest.mark.mariadb),
]


def behind() -> datetime:
    """The clock of an agent on a machine three minutes slow."""
    return datetime.now(UTC) - timedelta(minutes=3)


@pytest.mark.parametrize("fixture", BACKENDS)
def test_an_agent_with_a_slow_clock_keeps_its_claim(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, name: str, fixture: str
) -> None:
    url: str = request.getfixturevalue(fixture)
    with monkeypatch.context() as patch:
        patch.setattr(store_module, "now_utc", behind)
        slow = StateStore(url, auto_migrate=True)
    right = StateStore(url)
    try:
        held = slow.acquire_lease(f"flow:{name}", "slow:1:a", 120)
        assert held.holder == "slow:1:a"
        # the other agent must not see a claim just taken as long expired
        assert right.acquire_lease(f"flow:{name}", "right:2:b", 120).holder == "slow:1:a"
        assert slow.acquire_lease(f"flow:{name}", "slow:1:a", 120).holder == "slow:1:a"
    finally:
        slow.close()
        right.close()


def test_a_clock_given_to_the_store_still_times_its_leases(store_url: str, name: str) -> None:
    """Tests move a fake clock to expire a lease; the server's clock is only the default."""
    now = datetime.now(UTC)
    with StateStore(store_url, auto_migrate=True, clock=lambda: now) as a:
        a.acquire_lease(f"flow:{name}", "a", 60)
    later = now + timedelta(seconds=61)
    with StateStore(store_url, clock=lambda: later) as b:
        assert b.acquire_lease(f"flow:{name}", "b", 60).holder == "b"


WAITING = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
    "mysql": "SELECT count(*) FROM information_schema.processlist"
    " WHERE info LIKE '%FROM tandem_lease%FOR UPDATE%' AND id <> connection_id()",
}
"""A statement of another connection is waiting for a lock (MariaDB: the locking read of a
lease is still running, which it only does while it waits)."""


def wait_until_blocked(url: str) -> None:
    """Return once some transaction of the database waits for a lock (within 10 s)."""
    engine = sa.create_engine(url)
    query = sa.text(WAITING["postgresql" if engine.dialect.name == "postgresql" else "mysql"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(query).scalar_one():
                    return
            time.sleep(0.02)
        raise AssertionError("the second agent never waited for the first")
    finally:
        engine.dispose()


@pytest.mark.parametrize("fixture", BACKENDS)
def test_two_agents_starting_together_one_gets_the_claim(
    request: pytest.FixtureRequest, name: str, fixture: str
) -> None:
    url: str = request.getfixturevalue(fixture)
    first = StateStore(url, auto_migrate=True)
    second = StateStore(url)
    got: list[object] = []

    def take() -> None:
        try:
            got.append(second.acquire_lease(f"flow:{name}", "second", 120).holder)
        except Exception as exc:  # the assertion below shows it
            got.append(exc)

    try:
        with first.transaction():  # the first agent's claim, not yet committed
            assert first.acquire_lease(f"flow:{name}", "first", 120).holder == "first"
            thread = threading.Thread(target=take)
            thread.start()
            wait_until_blocked(url)
        thread.join()
        assert got == ["first"]
    finally:
        first.close()
        second.close()
