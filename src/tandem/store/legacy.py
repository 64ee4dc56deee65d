"""Links an earlier release left to records deleted in both systems, and their repair.

Since schema revision 0005, a delete synced under the ``delete`` policy drops the link of its
two keys in the transaction that saves its tombstone. Stores written before still hold such
links: ``status`` counts them, and a record created again under an old key is planned against
its deleted partner instead of being synced as new. :func:`repair` drops them, set-based.

What proves that a link is one of them (every part is required):

1. The synced row of its two keys is a tombstone (``deleted``): a record brought back since
   holds another partner or a live state.
2. The audit log of the flow holds the successful write that deleted the partner, caused by
   this very record: action ``delete``, target the other system, ``record_key`` the partner's
   key, cause ``<side>:<entity>:<key>@...`` naming the record's own key (an ERP key deleted
   for an earlier record under the same key does not count). A write that failed has no entry.
3. That entry lies between the two marks migration 0005 left (:data:`BOUNDARY`):

   * written after the store was bound to its flow (:mod:`tandem.store.owner`): the release
     that began to bind stores is the one that began to audit a flag write as ``flag``;
     before it, a flag write was audited as ``delete``;
   * written before the upgrade to this release: since, a delete under the ``delete`` policy
     drops its link itself, so a tombstone still linked is a survivor.

   The marks are audit ids: the search for an entry of a record uses the audit log's index
   of records. The newest entry before the upgrade must still be there, as it was: if it was
   pruned, so was the evidence (and on SQLite a table pruned empty may give its ids again).

4. The delete was made under the ``delete`` policy:

   * A delete read from the CRM wrote ``delete`` to the ERP: ``archive`` and ``flag`` set the
     ERP's flag field there instead (audit action ``flag``; the config requires the field).
   * A delete read from the ERP wrote ``delete`` to the CRM under ``archive`` as well (the CRM
     record goes to the recycle bin and stays linked). The store cannot tell the two apart;
     the caller vouches that the entity's policy is ``delete`` now, and the entity's audit must
     hold no ``flag`` write at all (no trace of it ever running under ``archive`` or
     ``flag``). Otherwise the link is kept and counted as undecided.

A link whose evidence is missing (pruned from the audit log, written before the binding) is
kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tandem.store import snapshots
from tandem.store.owner import STORE_WIDE
from tandem.store.records import Side
from tandem.store.schema import audit, link, synced

log = logging.getLogger(__name__)

BOUNDARY = "legacy_links"
"""The store-wide memo migration 0005 leaves when it upgrades a store holding audit entries:
``first_id`` (the oldest entry written since the store was bound to its flow, or None),
``last_id`` and ``last_at`` (the newest entry then, and its instant)."""


def done_memo(entity: str) -> str:
    """The memo (of the flow) that says the repair of ``entity`` ran, and what it did."""
    return f"{entity}.legacy_links"


@dataclass(frozen=True, slots=True)
class Repair:
    """What one repair of an entity did."""

    dropped: int = 0
    """Links dropped: both records proven deleted under the ``delete`` policy."""
    undecided: int = 0
    """Links of deletes read from the ERP left alone because the entity also shows writes of
    the ``archive``/``flag`` policy, whose CRM delete looks the same."""


def repair(conn: sa.Connection, flow: str, entity: str, *, now: datetime) -> Repair:
    """Drop the links of ``entity`` an earlier release left to records deleted in both systems.

    Call it only for an entity whose delete policy is ``delete``. Idempotent; after it ran once
    (a memo of the flow says so) it only reads that memo.
    """
    if snapshots.get_memo(conn, flow, done_memo(entity)) is not None:
        return Repair()
    mark = snapshots.get_memo(conn, STORE_WIDE, BOUNDARY)
    if not isinstance(mark, dict) or mark.get("first_id") is None:
        return Repair()  # begun by this release, or never bound to its flow: nothing to trust
    last_at = conn.execute(sa.select(audit.c.at).where(audit.c.id == mark["last_id"])).scalar()
    if last_at is None or last_at != mark["last_at"]:
        return Repair()  # the newest entry of the earlier release is gone: its evidence too
    done = drop(conn, flow, entity, first_id=mark["first_id"], last_id=mark["last_id"])
    snapshots.put_memo(
        conn,
        flow,
        done_memo(entity),
        {"dropped": done.dropped, "undecided": done.undecided},
        now=now,
    )
    if done.dropped:
        log.info(
            "%s: dropped %d links of records deleted in both systems before the upgrade",
            entity,
            done.dropped,
        )
    if done.undecided:
        log.warning(
            "%s: kept %d links of records deleted in the ERP before the upgrade: the entity also"
            " ran under the archive or flag policy, whose delete in the CRM looks the same;"
            " see docs/operations.md",
            entity,
            done.undecided,
        )
    return done


def drop(conn: sa.Connection, flow: str, entity: str, *, first_id: int, last_id: int) -> Repair:
    """The repair itself, without its memos: one ``DELETE`` per system the delete came from.

    Args:
        conn: the connection, inside a transaction.
        flow: the flow whose audit log holds the evidence.
        entity: the entity, whose delete policy is ``delete``.
        first_id: the oldest audit entry that may serve as evidence.
        last_id: the newest.
    """
    window = (audit.c.id >= first_id, audit.c.id <= last_id)
    from_crm = _proven(conn, flow, entity, "crm", window)
    dropped = conn.execute(sa.delete(link).where(*from_crm)).rowcount
    from_erp = _proven(conn, flow, entity, "erp", window)
    found = conn.execute(sa.select(sa.func.count()).select_from(link).where(*from_erp))
    undecided = int(found.scalar_one())
    if not undecided:
        return Repair(dropped)
    flagged = conn.execute(
        sa.select(audit.c.id)
        .where(audit.c.flow == flow, audit.c.entity == entity, audit.c.action == "flag")
        .limit(1)
    ).first()
    if flagged is not None:
        return Repair(dropped, undecided)
    dropped += conn.execute(sa.delete(link).where(*from_erp)).rowcount
    return Repair(dropped)


def _proven(
    conn: sa.Connection,
    flow: str,
    entity: str,
    source: Side,
    window: tuple[sa.ColumnElement[bool], ...],
) -> tuple[sa.ColumnElement[bool], ...]:
    """The conditions on a link of ``entity`` whose record's delete, read from ``source``, was
    synced by deleting its partner: a tombstone of both keys, and the audited delete of the
    partner this record caused, written within ``window``."""
    if source == "erp":
        key, partner, target = link.c.erp_key, link.c.crm_key, "crm"
    else:
        key, partner, target = link.c.crm_key, link.c.erp_key, "erp"
    # the tombstones first (a few among all the records), then their links and the audit
    tombstones = sa.select(synced.c.erp_key, synced.c.crm_key).where(
        synced.c.entity == entity, synced.c.deleted == sa.true()
    )
    tombstone = sa.tuple_(link.c.erp_key, link.c.crm_key).in_(tombstones)
    cause = sa.literal(f"{source}:{entity}:", sa.String) + key + sa.literal("@", sa.String)
    deleted_partner = sa.exists().where(
        audit.c.flow == flow,
        audit.c.entity == link.c.entity,
        audit.c.record_key == partner,
        audit.c.target == target,
        audit.c.action == "delete",
        *window,
        _starts_with(conn, audit.c.cause, cause),
    )
    return (link.c.entity == entity, tombstone, deleted_partner)


def _starts_with(
    conn: sa.Connection, text: sa.ColumnElement[Any], prefix: sa.ColumnElement[Any]
) -> sa.ColumnElement[bool]:
    """``text`` begins with ``prefix``, compared exactly: ``LIKE`` would take ``_`` and ``%`` in
    a key as wildcards, and ignores case on SQLite."""
    length = sa.func.char_length if conn.dialect.name in ("mysql", "mariadb") else sa.func.length
    return sa.func.substr(text, 1, length(prefix)) == prefix


__all__ = ["BOUNDARY", "Repair", "done_memo", "drop", "repair"]
