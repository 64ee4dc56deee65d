"""Helpers for the SQL connector tests: realistic ERP tables and reading shortcuts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.connectors.base import Change, Cursor, EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, install_capture
from tandem.connectors.sql.settings import create_engine

FIELDS = ("name", "nip", "email", "country_code", "updated_at")


@dataclass
class Erp:
    """A fresh pair of ERP tables (customers, contacts) with unique names in one database."""

    url: str
    engine: sa.Engine
    customers: sa.Table
    contacts: sa.Table
    changelog: str
    channel: str

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def settings(self, **extra: Any) -> SqlSettings:
        return SqlSettings(
            url=self.url,
            changelog_table=self.changelog,
            notify_channel=self.channel,
            poll_seconds=0.05,
            **extra,
        )

    def binding(self, **options: Any) -> EntityBinding:
        return EntityBinding(
            name="customer",
            source=self.customers.name,
            key="id",
            fields=FIELDS,
            external_id="crm_id",
            options=options,
        )

    def contact_binding(self) -> EntityBinding:
        return EntityBinding(
            name="contact",
            source=self.contacts.name,
            key="id",
            fields=("customer_id", "first_name", "email"),
            external_id="crm_id",
        )

    def install(self, seed: bool = True, notify: bool | None = None) -> None:
        install_capture(
            self.engine,
            [(self.customers.name, "id"), (self.contacts.name, "id")],
            changelog_table=self.changelog,
            notify_channel=self.channel,
            seed=seed,
            notify=notify,
        )

    def insert(self, *rows: dict[str, Any]) -> list[int]:
        keys = []
        with self.engine.begin() as conn:
            for row in rows:
                result = conn.execute(sa.insert(self.customers).values(row))
                assert result.inserted_primary_key is not None
                keys.append(int(result.inserted_primary_key[0]))
        return keys

    def execute(self, stmt: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def rows(self, table: sa.Table | None = None) -> list[dict[str, Any]]:
        table = self.customers if table is None else table
        with self.engine.connect() as conn:
            stmt = sa.select(table).order_by(table.c.id)
            return [dict(r) for r in conn.execute(stmt).mappings()]


async def collect(batches: Any) -> list[Sequence[Change]]:
    """Every batch an async iterator yields."""
    return [batch async for batch in batches]


async def changes_after(
    conn: SqlConnector, binding: EntityBinding, since: Cursor | None, size: int = 100
) -> list[Change]:
    """All changes after ``since``, flattened."""
    return [c for batch in await collect(conn.read_changes(binding, since, size)) for c in batch]


def past(changes: Sequence[Change], since: Cursor) -> list[Change]:
    """The changes past ``since``.

    A MariaDB read may first return changes behind ``since`` again, as they are now: it is held
    back while a write transaction that an earlier read may have missed could still land
    there (``tandem.connectors.sql.late``). Elsewhere a read returns nothing behind ``since``
    but late commits.
    """
    return [change for change in changes if change.cursor > since]


def customer(name: str, **values: Any) -> dict[str, Any]:
    """A customers row."""
    return {"name": name, "email": f"{name.lower()}@example.com", "country_code": "PL", **values}


def at(text: str) -> datetime:
    """A naive UTC timestamp from ISO text."""
    return datetime.fromisoformat(text)


def new_erp(url: str) -> Erp:
    """Realistic ERP tables (customers, their contacts) with names unique to the caller, and
    change-log and channel names to match."""
    suffix = uuid.uuid4().hex[:8]
    engine = create_engine(SqlSettings(url=url))
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
    return Erp(url, engine, customers, contacts, f"cl_{suffix}", f"ch_{suffix}")
