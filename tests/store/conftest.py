"""Fixtures of the state store tests: one ``store`` per backend (SQLite, PostgreSQL, MariaDB).

PostgreSQL and MariaDB databases live for the whole session, so every test uses names
(flow, entity) made unique by the ``name`` fixture.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tandem.store import StateStore

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb),
]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a migrated-or-not store on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/state.db"
    fixture = "pg_url" if request.param == "postgresql" else "mariadb_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock for the store."""
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[StateStore]:
    """A migrated store on each backend, with a fake clock and a 300 s work lease."""
    state = StateStore(store_url, clock=clock, lease_seconds=300)
    state.migrate()
    yield state
    state.close()


@pytest.fixture
def name() -> str:
    """A name unique to this test, for flows and entities in shared databases."""
    return f"t{uuid.uuid4().hex[:12]}"
