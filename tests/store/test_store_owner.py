"""A state store belongs to one flow: another is refused, a renamed one adopts its state."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tandem.connectors.base import Cursor
from tandem.errors import StoreError
from tandem.store import StateStore


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL of this test alone (ownership is store-wide)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    fixture = "pg_fresh_url" if request.param == "postgresql" else "mariadb_fresh_url"
    return str(request.getfixturevalue(fixture))


def test_a_second_flow_is_refused_naming_both(fresh_url: str) -> None:
    with StateStore(fresh_url, auto_migrate=True) as store:
        store.bind_flow("sales")
        store.bind_flow("sales")  # the owner again: fine
        store.link("customer", "1", "001A")
        with pytest.raises(StoreError) as refused:
            store.bind_flow("marketing")
    message = str(refused.value)
    assert "flow 'sales', not of flow 'marketing'" in message
    assert "tandem store adopt --from sales" in message


def test_a_renamed_flow_adopts_its_state(fresh_url: str) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with StateStore(fresh_url, auto_migrate=True) as store:
        store.bind_flow("sales")
        store.link("customer", "1", "001A")
        store.set_cursor("sales", "customer", "erp", Cursor(at, "1"))
        store.save_memo("sales", "bulk_rate", 0.001)
        moved = store.adopt_flow("sales", "sales-eu")
        store.bind_flow("sales-eu")
        assert moved["tandem_cursor"] == 1 and moved["tandem_memo"] == 1
        assert store.cursor("sales-eu", "customer", "erp") == Cursor(at, "1")
        assert store.cursor("sales", "customer", "erp") is None
        assert store.memo("sales-eu", "bulk_rate") == 0.001
        assert store.partner("customer", "erp", "1") == "001A"  # links are the store's
        with pytest.raises(StoreError, match="not of flow 'sales'"):
            store.bind_flow("sales")


def test_adopting_into_a_flow_with_state_of_its_own_moves_nothing(fresh_url: str) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with StateStore(fresh_url, auto_migrate=True) as store:
        store.set_cursor("old", "customer", "erp", Cursor(at, "1"))
        store.set_cursor("new", "customer", "erp", Cursor(at, "2"))
        with pytest.raises(StoreError, match="already has state in tandem_cursor"):
            store.adopt_flow("old", "new")
        assert store.cursor("old", "customer", "erp") == Cursor(at, "1")
        assert store.cursor("new", "customer", "erp") == Cursor(at, "2")
