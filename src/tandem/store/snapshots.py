"""Schema snapshots: the last describe of each bound object, to report drift between runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.store._sql import check_side, upsert
from tandem.store.records import Side
from tandem.store.schema import schema_snapshot as table


def get(conn: sa.Connection, flow: str, side: Side, source: str) -> dict[str, Any] | None:
    """The stored field descriptions of ``source``, or None before the first snapshot."""
    check_side(side)
    row = conn.execute(
        sa.select(table.c.fields).where(
            table.c.flow == flow, table.c.side == side, table.c.source == source
        )
    ).first()
    return None if row is None else dict(row.fields)


def put(
    conn: sa.Connection,
    flow: str,
    side: Side,
    source: str,
    fields: dict[str, Any],
    *,
    now: datetime,
) -> None:
    """Replace the snapshot of ``source``."""
    check_side(side)
    upsert(
        conn,
        table,
        [{"flow": flow, "side": side, "source": source, "fields": fields, "captured_at": now}],
        ("flow", "side", "source"),
        ("fields", "captured_at"),
    )


__all__ = ["get", "put"]
