"""Leases: one holder at a time, renewable, taken over once expired."""

from __future__ import annotations

from tandem.store import StateStore

from .conftest import FakeClock


def test_one_holder_at_a_time_until_the_lease_expires(
    store: StateStore, name: str, clock: FakeClock
) -> None:
    first = store.acquire_lease(name, "agent-a", 60)
    assert first.holder == "agent-a"
    refused = store.acquire_lease(name, "agent-b", 60)
    assert refused.holder == "agent-a" and refused.expires_at == first.expires_at
    clock.advance(30)
    renewed = store.acquire_lease(name, "agent-a", 60)
    assert renewed.expires_at > first.expires_at
    clock.advance(61)  # agent-a stopped renewing: the lease is free to take
    taken = store.acquire_lease(name, "agent-b", 60)
    assert taken.holder == "agent-b"
    store.release_lease(name, "agent-a")  # not the holder any more: nothing happens
    assert store.acquire_lease(name, "agent-c", 60).holder == "agent-b"
    store.release_lease(name, "agent-b")
    assert store.acquire_lease(name, "agent-c", 60).holder == "agent-c"


def test_a_holder_known_to_be_gone_is_replaced_before_expiry(store: StateStore, name: str) -> None:
    store.acquire_lease(name, "agent-a", 600)
    assert store.acquire_lease(name, "agent-b", 60, replace="agent-x").holder == "agent-a"
    assert store.acquire_lease(name, "agent-b", 60, replace="agent-a").holder == "agent-b"
