"""Moving the state from SQLite to PostgreSQL or MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from tandem.connectors.base import Cursor
from tandem.errors import StoreError
from tandem.store import AuditEntry, StateStore, SyncedState
from tandem.store.transfer import copy_store

from .conftest import BACKENDS

AT = datetime(2024, 5, 1, 10, 0, 0, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of its own on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/target/state.db"
        return
    shared: str = request.getfixturevalue(
        "pg_url" if request.param == "postgresql" else "mariadb_url"
    )
    url = sa.make_url(shared)
    admin_db = "postgres" if request.param == "postgresql" else ""
    admin = sa.create_engine(url.set(database=admin_db), isolation_level="AUTOCOMMIT")
    name = f"tandem_copy_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if request.param == "postgresql" else ""
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def fill(store: StateStore) -> tuple[int, int]:
    store.link_many("customer", [(str(i), f"C{i}") for i in range(1500)])
    store.save_synced(
        [
            SyncedState("customer", str(i), f"C{i}", {"p": Decimal("1.10")}, AT, AT)
            for i in range(1500)
        ]
    )
    store.set_cursor("f", "customer", "erp", Cursor(AT, "1499"))
    letter = store.add_dead_letter(
        flow="f", entity="customer", side="erp", record_key="7", message="x"
    )
    conflict = store.add_conflict(
        flow="f", entity="customer", erp_key="8", field="phone", erp_value="1"
    )
    store.enqueue(flow="f", entity="customer", side="crm", record_keys=["C9"], reason="retry")
    store.audit([AuditEntry("f", "customer", "crm", "C1", "create", None, {"p": 1}, "erp:1", AT)])
    return letter, conflict


def test_copy_sqlite_state_to_each_backend(tmp_path: Path, empty_url: str) -> None:
    source_url = f"sqlite:///{tmp_path}/source.db"
    with StateStore(source_url, auto_migrate=True) as source:
        letter, conflict = fill(source)
    copied = copy_store(source_url, empty_url, batch=400)
    assert copied["tandem_link"] == copied["tandem_synced"] == 1500
    assert copied["tandem_audit"] == copied["tandem_work"] == 1
    with StateStore(empty_url) as target:
        assert target.count_links("customer") == 1500
        assert target.synced("customer", "crm", ["C1499"])["C1499"].values == {"p": Decimal("1.10")}
        assert target.cursor("f", "customer", "erp") == Cursor(AT, "1499")
        assert [d.id for d in target.dead_letters(flow="f")] == [letter]
        assert target.resolve_conflict(conflict, "erp").resolved_value == "1"
        assert [w.record_key for w in target.take_work("f")] == ["C9"]
        assert target.audit_log(flow="f")[0].at == AT
        # New rows get fresh ids after the copied ones.
        assert (
            target.add_dead_letter(
                flow="f", entity="customer", side="erp", record_key="new", message="x"
            )
            > letter
        )
    with pytest.raises(StoreError, match="already holds rows"):
        copy_store(source_url, empty_url)


def test_copy_needs_a_migrated_source(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="migrate"):
        copy_store(f"sqlite:///{tmp_path}/nothing.db", f"sqlite:///{tmp_path}/target.db")
