"""The ID cross-reference: one ERP key <-> one CRM key per entity, both unique."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.errors import LinkClash, StoreError
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
        LinkClash: a key is already linked to another partner and ``replace`` is false.
        StoreError: the same key appears twice in ``pairs`` with different partners.
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
            pair = (erp_key, asked)
        else:
            detail = (
                f"CRM key {crm_key!r} is already linked to ERP key {erp_key!r}, "
                f"not {crm_taken[crm_key]!r}"
            )
            pair = (crm_taken[crm_key], crm_key)
        raise LinkClash(
            f"{entity}: {detail} (pass replace=True to relink)", erp_key=pair[0], crm_key=pair[1]
        )
    for part in chunks(sorted(e for e, _ in clashes)):
        conn.execute(_UNLINK["erp"], {"p_entity": entity, "p_keys": list(part)})
    done = {e for e, c in existing if wanted.get(e) == c}
    created_at = binds(conn.dialect).instant(now)
    values: list[Any] = []
    for erp_key, crm_key in wanted.items():
        if erp_key not in done:
            values += (entity, erp_key, crm_key, created_at)
    insert_many(conn, link, _COLUMNS, values)
    return len(values) // len(_COLUMNS)


_COLUMNS = ("entity", "erp_key", "crm_key", "created_at")


def clashes(
    conn: sa.Connection, entity: str, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """The pairs asked for whose ERP or CRM key is linked to another partner already.

    Returns:
        Each clashing pair asked for -> the link that holds one of its keys.
    """
    if not pairs:
        return {}
    existing = _rows(conn, entity, "erp", unique([e for e, _ in pairs])) | _rows(
        conn, entity, "crm", unique([c for _, c in pairs])
    )
    by_erp = {e: c for e, c in existing}
    by_crm = {c: e for e, c in existing}
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for erp_key, crm_key in pairs:
        held_crm, held_erp = by_erp.get(erp_key), by_crm.get(crm_key)
        if held_crm is not None and held_crm != crm_key:
            found[(erp_key, crm_key)] = (erp_key, held_crm)
        elif held_erp is not None and held_erp != erp_key:
            found[(erp_key, crm_key)] = (held_erp, crm_key)
    return found


def _rows(conn: sa.Connection, entity: str, side: Side, keys: list[str]) -> set[tuple[str, str]]:
    rows = select_in(conn, link, _PAIR, {"entity": entity}, f"{side}_key", keys)
    return {(row[0], row[1]) for row in rows}


_PAIR = ("erp_key", "crm_key")


def unlink(conn: sa.Connection, entity: str, side: Side, keys: Sequence[str]) -> int:
    """Forget the links of the given keys on ``side``; returns how many were removed."""
    check_side(side)
    removed = 0
    for part in chunks(unique(keys)):
        result = conn.execute(_UNLINK[side], {"p_entity": entity, "p_keys": list(part)})
        removed += result.rowcount
    return removed


_UNLINK = {
    side: sa.delete(link).where(
        link.c.entity == sa.bindparam("p_entity"),
        link.c[f"{side}_key"].in_(sa.bindparam("p_keys", expanding=True)),
    )
    for side in ("erp", "crm")
}
"""The links of some keys on a side, built once: an ``IN`` list built per call leaves a
reference cycle (SQLAlchemy 2.1: each ``BindParameter`` is in its own ``_cloned_set``) for the
garbage collector; an expanding parameter is bound to each call's keys and leaves none."""


def partners(conn: sa.Connection, entity: str, side: Side, keys: Sequence[str]) -> dict[str, str]:
    """Map each linked key on ``side`` to its partner key; unlinked keys are absent."""
    check_side(side)
    mine, other = _PAIR if side == "erp" else _PAIR[::-1]
    rows = select_in(conn, link, (mine, other), {"entity": entity}, mine, unique(keys))
    return {row[0]: row[1] for row in rows}


def page(conn: sa.Connection, entity: str, after_erp_key: str, size: int) -> list[tuple[str, str]]:
    """One page of an entity's links, ``(erp_key, crm_key)`` in ERP key order, after a key."""
    query = (
        sa.select(link.c.erp_key, link.c.crm_key)
        .where(link.c.entity == entity, link.c.erp_key > after_erp_key)
        .order_by(link.c.erp_key)
        .limit(size)
    )
    return [(row[0], row[1]) for row in conn.execute(query)]


def count(conn: sa.Connection, entity: str | None = None) -> dict[str, int]:
    """Links per entity (only ``entity`` when given)."""
    query = sa.select(link.c.entity, sa.func.count()).group_by(link.c.entity)
    if entity is not None:
        query = query.where(link.c.entity == entity)
    return {row[0]: int(row[1]) for row in conn.execute(query)}


__all__ = ["clashes", "count", "link_many", "page", "partners", "unlink"]
