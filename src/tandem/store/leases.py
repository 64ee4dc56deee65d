"""Leases: a named claim with an expiry, so that one engine at a time works on a flow.

A holder renews its lease while it works; a lease that is not renewed expires and another
holder may take it over (a crashed agent never blocks the flow for longer than the lease).

Holders on different machines time a lease by the database server's clock
(:func:`server_now`): an agent whose clock ran three minutes slow would otherwise write a
claim that every other agent reads as long expired, and both would sync the flow at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from tandem.errors import StoreError
from tandem.store.schema import lease as table


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a lease, and until when."""

    name: str
    holder: str
    expires_at: datetime


def server_now(conn: sa.Connection) -> datetime | None:
    """The database server's clock (aware UTC), or ``None`` for SQLite, whose writers all
    run on the machine that holds the file and so share its clock."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        now = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    elif dialect in ("mysql", "mariadb"):
        now = conn.execute(sa.select(sa.func.utc_timestamp(6))).scalar_one()
    else:
        return None
    if not isinstance(now, datetime):
        return None
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def acquire(
    conn: sa.Connection,
    name: str,
    holder: str,
    seconds: float,
    now: datetime,
    *,
    replace: str | None = None,
) -> Lease:
    """Take or renew the lease ``name`` for ``holder``; returns the lease as it now stands.

    The caller holds it when the returned lease's holder is ``holder``. ``replace`` names a
    holder known to be gone (a dead process): its lease is taken over before it expires.
    """
    until = now + timedelta(seconds=seconds)
    row = _locked(conn, name)
    if row is None:
        if _insert(conn, name, holder, now, until):
            return Lease(name, holder, until)
        row = _locked(conn, name)  # another holder took it meanwhile: its row, now committed
        if row is None:
            raise StoreError(f"lease {name} was taken and given up meanwhile; try again")
    if row.holder not in (holder, replace) and row.expires_at > now:
        return Lease(name, row.holder, row.expires_at)
    values = {"holder": holder, "expires_at": until}
    if row.holder != holder:
        values["acquired_at"] = now
    conn.execute(sa.update(table).where(table.c.name == name).values(**values))
    return Lease(name, holder, until)


def _locked(conn: sa.Connection, name: str) -> sa.Row[str, datetime] | None:
    """The lease's row, locked until the transaction ends."""
    query = sa.select(table.c.holder, table.c.expires_at).where(table.c.name == name)
    return conn.execute(query.with_for_update()).first()


def _insert(conn: sa.Connection, name: str, holder: str, now: datetime, until: datetime) -> bool:
    """Create the lease's row; ``False`` when another holder's row came first.

    On PostgreSQL the ``FOR UPDATE`` read cannot see, nor wait for, a row another transaction
    inserted and has not committed: two agents starting together would both insert, and the
    second would fail on the primary key. ``ON CONFLICT DO NOTHING`` waits for the first
    instead. (MariaDB's locking read waits for that row; SQLite has one writer at a time.)
    """
    values = {"name": name, "holder": holder, "acquired_at": now, "expires_at": until}
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table).values(**values))
        return True
    stmt = postgresql.insert(table).values(**values).on_conflict_do_nothing()
    return conn.execute(stmt.returning(table.c.name)).first() is not None


def release(conn: sa.Connection, name: str, holder: str) -> None:
    """Give the lease up, if ``holder`` holds it."""
    conn.execute(sa.delete(table).where(table.c.name == name, table.c.holder == holder))


__all__ = ["Lease", "acquire", "release", "server_now"]
