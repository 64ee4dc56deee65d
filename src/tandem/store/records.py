"""The records the state store hands out and takes in: plain dataclasses, no ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

Side = Literal["erp", "crm"]
"""Which system a key or a record belongs to."""

DeadLetterStatus = Literal["open", "retrying", "resolved", "dropped"]
ConflictStatus = Literal["open", "resolved"]
Resolution = Literal["erp", "crm", "value", "deleted", "dropped"]
"""How a conflict was closed: a side's value, a typed ``value``, ``deleted`` (a record was
gone: closed without a write) or ``dropped`` (closed by a person without a write)."""
WorkStatus = Literal["pending", "taken"]

SIDES: frozenset[str] = frozenset(get_args(Side))
DEAD_LETTER_STATUSES: frozenset[str] = frozenset(get_args(DeadLetterStatus))
RESOLUTIONS: frozenset[str] = frozenset(get_args(Resolution))


def now_utc() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


@dataclass
class SyncedState:
    """What both systems held after the last successful sync of one record.

    Attributes:
        entity: the flow entity, e.g. ``customer``.
        erp_key: the record's key in the ERP (``None`` until it exists there).
        crm_key: the record's key in the CRM (``None`` until it exists there).
        values: canonical field -> value last synced (any value :mod:`tandem.codec` encodes).
        erp_modified: the ERP's modified-at of the version synced.
        crm_modified: the CRM's modified-at of the version synced.
        deleted: the record was deleted and the delete was synced (a tombstone).
    """

    entity: str
    erp_key: str | None
    crm_key: str | None
    values: dict[str, Any]
    erp_modified: datetime | None
    crm_modified: datetime | None
    deleted: bool = False


@dataclass
class DeadLetter:
    """A record that could not be synced, with the reason, kept for retry or drop.

    Attributes:
        id: the dead letter's id.
        flow: the flow name.
        entity: the flow entity.
        side: where the record came from.
        record_key: the record's key on ``side``.
        field: the offending field, when known.
        value: ``repr`` of the offending value, truncated, when known.
        message: the system's or mapper's message.
        code: the system's error code, when it gave one.
        payload: the record as it was read (codec-encodable values).
        attempts: how many times the record failed.
        status: ``open`` (failing), ``retrying`` (queued again), ``resolved`` (went through
            later), ``dropped`` (a person gave up on it).
        created_at: first failure.
        updated_at: last change.
    """

    id: int
    flow: str
    entity: str
    side: Side
    record_key: str
    field: str | None
    value: str | None
    message: str
    code: str | None
    payload: dict[str, Any]
    attempts: int
    status: DeadLetterStatus
    created_at: datetime
    updated_at: datetime


@dataclass
class Conflict:
    """The same field changed on both sides since the last sync, waiting for a decision.

    Attributes:
        id: the conflict's id.
        flow: the flow name.
        entity: the flow entity.
        erp_key: the record's ERP key.
        crm_key: the record's CRM key.
        field: the canonical field.
        base_value: the value last synced.
        erp_value: the ERP's new value.
        crm_value: the CRM's new value.
        erp_modified: when the ERP changed it.
        crm_modified: when the CRM changed it.
        status: ``open`` or ``resolved``.
        resolution: which side won, ``value`` for a value a person typed, ``deleted`` when
            a record was gone (closed without a write), ``dropped`` when a person closed it
            without a write.
        resolved_value: the value to write to both sides once resolved.
        created_at: when the conflict was first seen.
        resolved_at: when it was resolved.
    """

    id: int
    flow: str
    entity: str
    erp_key: str
    crm_key: str | None
    field: str
    base_value: Any
    erp_value: Any
    crm_value: Any
    erp_modified: datetime | None
    crm_modified: datetime | None
    status: ConflictStatus
    resolution: Resolution | None
    resolved_value: Any
    created_at: datetime
    resolved_at: datetime | None


@dataclass
class WorkItem:
    """A record to re-read and re-sync (dead-letter retry, resolved conflict, reconcile heal).

    Attributes:
        id: the item's id.
        flow: the flow name.
        entity: the flow entity.
        side: the system to re-read the record from.
        record_key: the record's key on ``side``.
        reason: why it was queued, e.g. ``retry``, ``conflict-resolved``, ``reconcile``.
        attempts: how many times it has been taken, this time included.
        not_before: it is not due before this instant.
        status: ``pending`` or ``taken``.
    """

    id: int
    flow: str
    entity: str
    side: Side
    record_key: str
    reason: str
    attempts: int
    not_before: datetime
    status: WorkStatus


@dataclass
class AuditEntry:
    """One write Tandem made to a system.

    Attributes:
        flow: the flow name.
        entity: the flow entity.
        target: the system written to.
        record_key: the record's key in the target.
        action: ``create``, ``update``, ``delete``, ``flag`` (a delete policy set its flag
            field instead of deleting), ``link`` (the other system's key written back),
            ``revert`` (a field the source does not own set back), ``resolve`` (a person's
            choice on a conflict).
        before: the target's values before the write, when known.
        after: the values written (for ``flag``: the native flag field and its value).
        cause: the change that caused it, e.g. ``erp:customer:42@2024-05-01T10:00:00Z``.
        at: when the write was confirmed.
    """

    flow: str
    entity: str
    target: Side
    record_key: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    cause: str
    at: datetime = field(default_factory=now_utc)


__all__ = [
    "AuditEntry",
    "Conflict",
    "ConflictStatus",
    "DeadLetter",
    "DeadLetterStatus",
    "Resolution",
    "Side",
    "SyncedState",
    "WorkItem",
    "WorkStatus",
    "now_utc",
]
