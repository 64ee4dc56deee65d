"""Leases: a named claim with an expiry, so that one engine at a time works on a flow.

A holder renews its lease while it works; a lease that is not renewed expires and another
holder may take it over (a crashed agent never blocks the flow for longer than the lease).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from tandem.store.schema import lease as table


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a lease, and until when."""

    name: str
    holder: str
    expires_at: datetime


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
    row = conn.execute(
        sa.select(table.c.holder, table.c.expires_at).where(table.c.name == name).with_for_update()
    ).first()
    until = now + timedelta(seconds=seconds)
    if row is None:
        conn.execute(
            sa.insert(table).values(name=name, holder=holder, acquired_at=now, expires_at=until)
        )
        return Lease(name, holder, until)
    if row.holder not in (holder, replace) and row.expires_at > now:
        return Lease(name, row.holder, row.expires_at)
    values = {"holder": holder, "expires_at": until}
    if row.holder != holder:
        values["acquired_at"] = now
    conn.execute(sa.update(table).where(table.c.name == name).values(**values))
    return Lease(name, holder, until)


def release(conn: sa.Connection, name: str, holder: str) -> None:
    """Give the lease up, if ``holder`` holds it."""
    conn.execute(sa.delete(table).where(table.c.name == name, table.c.holder == holder))


__all__ = ["Lease", "acquire", "release"]
