"""Which flow a state store belongs to.

The ID cross-reference and the synced values are kept per entity, not per flow: two flows
writing one store would read each other's links as their own. So a store belongs to the flow
that first used it; another flow is refused with a clear error, and a renamed flow takes its
state over explicitly (:func:`rename`).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store import snapshots
from tandem.store.schema import memo as memo_table
from tandem.store.schema import metadata

STORE_WIDE = ""
"""The memo ``flow`` of what belongs to the store as a whole."""
OWNER = "owner_flow"


def bind(conn: sa.Connection, flow: str, *, now: datetime, where: str) -> None:
    """Make the store ``flow``'s; a store bound to another flow is refused.

    Raises:
        StoreError: the store holds another flow's state; the message names both flows.
    """
    owner = snapshots.get_memo(conn, STORE_WIDE, OWNER)
    if owner is None:
        snapshots.put_memo(conn, STORE_WIDE, OWNER, flow, now=now)
    elif owner != flow:
        raise StoreError(
            f"the state store {where} holds the state of flow {owner!r}, not of flow {flow!r}:"
            f" links and synced values are kept per store, so each flow needs its own (set"
            f" `state:` in its config); if flow {owner!r} was renamed to {flow!r}, run"
            f" `tandem store adopt --from {owner}`"
        )


def rename(conn: sa.Connection, old: str, new: str, *, now: datetime) -> dict[str, int]:
    """Give flow ``old``'s state (cursors, queues, audit, memos...) to ``new``; rows per table.

    Raises:
        StoreError: the store is bound to a flow other than ``old`` or ``new``, or ``new``
            already has state of its own.
    """
    owner = snapshots.get_memo(conn, STORE_WIDE, OWNER)
    if owner not in (None, old, new):
        raise StoreError(f"the state store belongs to flow {owner!r}, not to {old!r}")
    moved: dict[str, int] = {}
    for table in metadata.sorted_tables:
        if "flow" not in table.c:
            continue
        flow_col = table.c.flow
        if table is memo_table:
            rows = sa.and_(flow_col == old, flow_col != STORE_WIDE)
        else:
            rows = flow_col == old
        clash = conn.execute(sa.select(sa.func.count()).where(flow_col == new)).scalar_one()
        if clash and table is not memo_table:
            raise StoreError(f"flow {new!r} already has state in {table.name}; nothing moved")
        if table is memo_table:
            conn.execute(sa.delete(table).where(flow_col == new))
        moved[table.name] = conn.execute(sa.update(table).where(rows).values(flow=new)).rowcount
    snapshots.put_memo(conn, STORE_WIDE, OWNER, new, now=now)
    return moved


__all__ = ["OWNER", "STORE_WIDE", "bind", "rename"]
