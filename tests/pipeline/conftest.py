"""A real ERP database and the HTTPS Salesforce sandbox, wired by the demo flow."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from audit_kit import Writer
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


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def every_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The demo flow with the ERP on each supported database, a database of this test alone."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.db'}"
    else:
        url = request.getfixturevalue(
            "pg_fresh_url" if request.param == "postgresql" else "mariadb_fresh_url"
        )
    yield from build_env(tmp_path, url)


@pytest.fixture
def maria_env(tmp_path: Path, mariadb_fresh_url: str) -> Iterator[Env]:
    """The demo flow with the ERP in a MariaDB database of this test alone."""
    yield from build_env(tmp_path, mariadb_fresh_url)


@pytest.fixture(params=["postgresql", "mariadb"])
def db_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """The demo flow with the ERP in a PostgreSQL or MariaDB database of this test alone."""
    url = request.getfixturevalue(
        "pg_fresh_url" if request.param == "postgresql" else "mariadb_fresh_url"
    )
    yield from build_env(tmp_path, url)


@pytest.fixture
def writers() -> Iterator[list[Writer]]:
    """ERP writers a test opens; each is closed at the end if the test left it open."""
    opened: list[Writer] = []
    yield opened
    for writer in opened:
        with contextlib.suppress(Exception):
            writer.close()
