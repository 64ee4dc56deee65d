"""Fixtures for the SQL connector tests: every behaviour on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import cascade_pair
import pytest
import sqlalchemy as sa
from sqlerp import Erp, new_erp

from tandem.connectors.sql import SqlConnector, SqlSettings
from tandem.connectors.sql.settings import create_engine


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A database URL: a SQLite file, or the session's PostgreSQL / MariaDB (``mariadb`` or
    ``mysql``) database; for ``postgresql_2pc``, one on a server that allows prepared
    transactions."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/erp.db"
    fixture = {"postgresql": "pg_url", "postgresql_2pc": "pg_2pc_url"}
    return str(request.getfixturevalue(fixture.get(request.param, "mariadb_url")))


@pytest.fixture
def erp(db_url: str) -> Iterator[Erp]:
    """Realistic ERP tables with names unique to the test."""
    made = new_erp(db_url)
    try:
        yield made
    finally:
        made.engine.dispose()


@pytest.fixture
async def connector(erp: Erp) -> AsyncIterator[SqlConnector]:
    """An open connector over ``erp`` with change capture installed."""
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def maria_engine(mariadb_url: str) -> Iterator[sa.Engine]:
    """An engine on the test MariaDB, disposed of afterwards."""
    engine = create_engine(SqlSettings(url=mariadb_url))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def make_pair(maria_engine: sa.Engine, mariadb_url: str) -> Callable[..., cascade_pair.Pair]:
    """Make a customer table and a contact table whose foreign key has an action
    (:func:`cascade_pair.make_pair`: ``action``, ``fk_column``), on the test MariaDB."""
    return functools.partial(cascade_pair.make_pair, maria_engine, mariadb_url)
