"""Cursors move forwards only, per (flow, entity, side)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tandem.connectors.base import Cursor
from tandem.store import StateStore

BASE = datetime(2024, 5, 1, tzinfo=UTC)

cursors = st.builds(
    Cursor,
    st.integers(min_value=0, max_value=10**6).map(lambda us: BASE + timedelta(microseconds=us * 7)),
    st.text(alphabet="0123456789ABCabc", max_size=6),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(moves=st.lists(cursors, min_size=1, max_size=8))
def test_cursor_never_moves_backwards(store: StateStore, moves: list[Cursor]) -> None:
    flow = f"f{uuid.uuid4().hex[:10]}"
    for done, move in enumerate(moves, start=1):
        store.set_cursor(flow, "customer", "erp", move)
        assert store.cursor(flow, "customer", "erp") == max(moves[:done])
    assert store.cursor(flow, "customer", "erp") == max(moves)


def test_force_moves_backwards(store: StateStore, name: str) -> None:
    store.set_cursor(name, "customer", "crm", Cursor(BASE, "b"))
    store.set_cursor(name, "customer", "crm", Cursor(BASE, "a"))
    assert store.cursor(name, "customer", "crm") == Cursor(BASE, "b")
    store.set_cursor(name, "customer", "crm", Cursor(BASE, "a"), force=True)
    assert store.cursor(name, "customer", "crm") == Cursor(BASE, "a")


def test_cursors_are_per_flow_entity_side_and_utc(store: StateStore, name: str) -> None:
    warsaw = timezone(timedelta(hours=2))
    at = datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=warsaw)
    store.set_cursor(name, "customer", "erp", Cursor(at, "42"))
    store.set_cursor(name, "contact", "crm", Cursor(BASE, "003"))
    got = store.cursor(name, "customer", "erp")
    assert got == Cursor(datetime(2024, 5, 1, 10, 0, 0, 5, tzinfo=UTC), "42")
    assert got is not None and got.modified_at.tzinfo == UTC
    assert store.cursor(name, "customer", "crm") is None
    assert store.cursor(f"{name}x", "customer", "erp") is None


def test_reset_cursors(store: StateStore, name: str) -> None:
    for entity in ("customer", "contact"):
        for side in ("erp", "crm"):
            store.set_cursor(name, entity, side, Cursor(BASE, "1"))
    store.reset_cursors(name, "customer")
    assert store.cursor(name, "customer", "erp") is None
    assert store.cursor(name, "contact", "crm") == Cursor(BASE, "1")
    store.reset_cursors(name)
    assert store.cursor(name, "contact", "crm") is None
