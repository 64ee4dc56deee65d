"""A real ERP database and the HTTPS Salesforce sandbox, wired by the demo flow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """The demo flow between a SQLite ERP and the sandbox."""
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The demo flow with the ERP on each supported database server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.db'}"
    else:
        url = request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    yield from build_env(tmp_path, url)


@pytest.fixture
def pg_env(tmp_path: Path, pg_fresh_url: str) -> Iterator[Env]:
    """The demo flow with the ERP in a PostgreSQL database of this test alone."""
    yield from build_env(tmp_path, pg_fresh_url)
