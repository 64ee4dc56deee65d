"""Fixtures for the SQL connector tests: every behaviour on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlerp import Erp

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
    suffix = uuid.uuid4().hex[:8]
    engine = create_engine(SqlSettings(url=db_url))
    md = sa.MetaData()
    customers = sa.Table(
        f"customers_{suffix}",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("nip", sa.String(10)),
        sa.Column("email", sa.String(120)),
        sa.Column("country_code", sa.String(2)),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("crm_id", sa.String(18), unique=True),
        sa.Column("credit_limit", sa.Numeric(12, 2)),
        sa.Column("since", sa.Date),
        sa.Column("vip", sa.Boolean),
        sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("nip", name=f"uq_tax_{suffix}"),
    )
    contacts = sa.Table(
        f"contacts_{suffix}",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey(customers.c.id), nullable=False),
        sa.Column("first_name", sa.String(40), nullable=False),
        sa.Column("email", sa.String(120)),
        sa.Column("crm_id", sa.String(18), unique=True),
    )
    md.create_all(engine)
    try:
        yield Erp(db_url, engine, customers, contacts, f"cl_{suffix}", f"ch_{suffix}")
    finally:
        engine.dispose()


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
