"""The ID cross-reference: one ERP key <-> one CRM key per entity, both unique."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store._sql import check_side, chunks, insert_many, select_in, unique
from tandem.store.records import Side
from tandem.store.schema import link
from tandem.store.types import binds


def link_many(
    conn: sa.Connection,
    entity: str,
    pairs: Sequence[tuple[str, str]],
    *,
    replace: bool,
    now: datetime,
) -> int:
    """Link ERP keys to CRM keys; pairs already linked are left alone.

    Returns:
        How many new links were made.

    Raises:
        StoreError: a key is already linked to another partner and ``replace`` is false,
            or the same key appears twice in ``pairs`` with different partners.
    """
    wanted: dict[str, str] = {}
    crm_taken: dict[str, str] = {}
    for erp_key, crm_key in pairs:
        if not (isinstance(erp_key, str) and erp_key and isinstance(crm_key, str) and crm_key):
            raise StoreError(f"{entity}: cannot link an empty key ({erp_key!r}, {crm_key!r})")
        if (
            wanted.setdefault(erp_key, crm_key) != crm_key
            or crm_taken.setdefault(crm_key, erp_key) != erp_key
        ):
            raise StoreError(f"{entity}: keys repeated with different partners in one call")
    if not wanted:
        return 0
    existing = _rows(conn, entity, "erp", list(wanted)) | _rows(
        conn, entity, "crm", list(crm_taken)
    )
    clashes = [(e, c) for e, c in existing if wanted.get(e) != c]
    if clashes and not replace:
        erp_key, crm_key = clashes[0]
        asked = wanted.get(erp_key)
        if asked is not None:
            detail = f"ERP key {erp_key!r} is already linked to CRM key {crm_key!r}, not {asked!r}"
        else:
            detail = (
                f"CRM key {crm_key!r} is already linked to ERP key {erp_key!r}, "
                f"not {crm_taken[crm_key]!r}"
            )
        raise StoreError(f"{entity}: {detail} (pass replace=True to relink)")
    for part in chunks(sorted(e for e, _ in clashes)):
        conn.execute(sa.delete(link).where(link.c.entity == entity, link.c.erp_key.in_(part)))
    done = {e for e, c in existing if wanted.get(e) == c}
    created_at = binds(conn.dialect).instant(now)
    values: list[Any] = []
    for erp_key, crm_key in wanted.items():
        if erp_key not in done:
            values += (entity, erp_key, crm_key, created_at)
    insert_many(conn, link, _COLUMNS, values)
    return len(values) // len(_COLUMNS)


_COLUMNS = ("entity", "erp_key", "crm_key", "created_at")


def _rows(conn: sa.Connection, entity: str, side: Side, keys: list[str]) -> set[tuple[str, str]]:
    rows = select_in(conn, link, _PAIR, {"entity": entity}, f"{side}_key", keys)
    return {(row[0], row[1]) for row in rows}


_PAIR = ("erp_key", "crm_key")


def unlink(conn: sa.Connection, entity: str, side: Side, keys: Sequence[str]) -> int:
    """Forget the links of the given keys on ``side``; returns how many were removed."""
    check_side(side)
    column = link.c.erp_key if side == "erp" else link.c.crm_key
    removed = 0
    for part in chunks(unique(keys)):
        result = conn.execute(sa.delete(link).where(link.c.entity == entity, column.in_(part)))
        removed += result.rowcount
    return removed


def partners(conn: sa.Connection, entity: str, side: Side, keys: Sequence[str]) -> dict[str, str]:
    """Map each linked key on ``side`` to its partner key; unlinked keys are absent."""
    check_side(side)
    mine, other = _PAIR if side == "erp" else _PAIR[::-1]
    rows = select_in(conn, link, (mine, other), {"entity": entity}, mine, unique(keys))
    return {row[0]: row[1] for row in rows}


def count(conn: sa.Connection, entity: str | None = None) -> dict[str, int]:
    """Links per entity (only ``entity`` when given)."""
    query = sa.select(link.c.entity, sa.func.count()).group_by(link.c.entity)
    if entity is not None:
        query = query.where(link.c.entity == entity)
    return {row[0]: int(row[1]) for row in conn.execute(query)}


__all__ = ["count", "link_many", "partners", "unlink"]
