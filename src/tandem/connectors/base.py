"""The contract every connector implements: one small lifecycle.

A connector knows one system (an ERP, a CRM) and speaks its native field names. It knows
nothing of the pipeline, the state store or the screen. The pipeline drives it through
:class:`Connector`:

* ``open`` / ``close``: connect, authenticate, describe; release everything.
* ``describe``: the native schema of one bound entity, to validate the mapping before any write.
* ``read_changes``: a stream of batches of :class:`Change`, ordered by the compound cursor
  ``(modified_at, key)``, deletes included (``deleted=True``).
* ``read_all`` / ``read_records``: current records, for first linking and ``tandem reconcile``.
* ``write_batch``: idempotent upserts / updates / deletes; one :class:`WriteOutcome` per op,
  per-record failures reported in the outcome (never raised), transient failures raised as
  :class:`~tandem.errors.Retriable` for the whole batch. An update may carry a
  :class:`WriteGuard` (made only if its record is still as read).
* ``wait_for_change``: block until the system signals a change or the timeout passes.

Values travel as JSON-compatible Python values: ``str``, ``int``, ``float``, ``bool``, ``None``,
``decimal.Decimal``, ``datetime.date`` and timezone-aware ``datetime.datetime`` (UTC). A
record holding a value that is none of these (binary data) is read as
:class:`UnreadableFields`, which the mapper refuses: the pipeline dead-letters the record.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

from tandem.errors import MappingError, RecordRejected

WriteAction = Literal["upsert", "update", "delete"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

KEY_LENGTH = 255
"""The most characters a record's key may have: what the state store, an ERP change log and a
Salesforce external ID field hold. A source's record whose key is longer is not synced (a SQL
ERP's reads and change capture leave it out and name it)."""


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A position in a system's change stream: compound ``(modified_at, key)``.

    Ordering is the tuple order, so ties on ``modified_at`` are broken by ``key``; a reader
    resumes strictly after the cursor (minus the overlap window, which the caller applies).
    """

    modified_at: datetime
    key: str = ""

    def minus(self, seconds: float) -> Cursor:
        """The cursor moved back by an overlap window (key reset so ties are re-read)."""
        return Cursor(self.modified_at - timedelta(seconds=seconds), "")


@dataclass(frozen=True, slots=True)
class Change:
    """One record as the system holds it now, or the fact that it was deleted.

    Attributes:
        key: the record's native key in this system (Salesforce Id, ERP primary key as text).
        fields: native field name -> value; empty for a delete; :class:`UnreadableFields`
            when a value could not be read as one the contract carries.
        modified_at: when the system last changed the record (UTC).
        deleted: the record is gone (soft- or hard-deleted).
        merged_into: for a deleted record, the key of the record it was merged into, when
            the read tells (a Salesforce merge leaves its losers deleted with
            ``MasterRecordId`` set); ``None`` for a plain delete, a live record, or a delete
            read without it (see :class:`MergeLookup`).
    """

    key: str
    fields: Mapping[str, Any]
    modified_at: datetime
    deleted: bool = False
    merged_into: str | None = None

    @property
    def cursor(self) -> Cursor:
        """The cursor position just at this change."""
        return Cursor(self.modified_at, self.key)


class UnreadableFields(dict[str, Any]):
    """The fields of a record that held a value the contract cannot carry (binary data that
    is not text), the value left out: a connector reads such a record as this, and the mapper
    refuses it (:meth:`error`), so the pipeline dead-letters it instead of syncing it without
    the value or passing the value on.

    Attributes:
        field: the native field holding the value.
        value: the value as far as it is shown (the start of the bytes).
        reason: what is wrong and what to do, naming the entity and the field.
    """

    __slots__ = ("field", "reason", "value")

    def __init__(self, fields: Mapping[str, Any], *, field: str, value: Any, reason: str) -> None:
        super().__init__(fields)
        self.field = field
        self.value = value
        self.reason = reason

    def error(self, record_key: str) -> MappingError:
        """The mapping error of the record ``record_key`` (names its field and value)."""
        return MappingError(self.reason, record=record_key, field=self.field, value=self.value)


@dataclass(frozen=True, slots=True)
class EntityBinding:
    """What one connector must know of one flow entity, taken from the flow config.

    Attributes:
        name: the flow's entity name, e.g. ``customer``.
        source: the native object: a Salesforce sObject (``Account``), an ERP table or view.
        key: the native primary-key field (``Id``, ``id``).
        fields: the native fields Tandem reads and writes (key and external_id excluded).
        external_id: the native field holding the *other* system's key, used for idempotent
            upserts (``ERP_Id__c`` in Salesforce, ``crm_id`` in an ERP table). ``None`` when
            the entity is never written in this system.
        options: connector-specific settings (``modified_column``, ``query``, ``bulk_threshold``).
    """

    name: str
    source: str
    key: str
    fields: tuple[str, ...]
    external_id: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WriteGuard:
    """What an ``update`` expects of its record: write only if it still holds.

    The pipeline reads the target's current values of a field both systems may edit before
    it plans a write over it (a conflict, or who wins). An edit landing between that read
    and the write would be overwritten unseen; a guarded update is made only if the record
    is as read, else it is not made at all and its outcome says :attr:`WriteOutcome.changed`.

    A connector checks what it can: the SQL writer compares ``expected`` in the UPDATE's own
    ``WHERE``; Salesforce sends the update alone with ``If-Unmodified-Since`` (from
    ``modified_at``). A connector that cannot check a guard writes the op as it would an
    unguarded one (the in-memory test systems do), never refusing it for the guard.

    Attributes:
        expected: native field -> the value read, for the fields the update overwrites that
            the target may edit too.
        modified_at: the record's modified-at as read (Salesforce ``SystemModstamp``).
        read_at: when the read was made, by the target's clock and never later than it was
            (``None``: not known).
    """

    expected: Mapping[str, Any] = field(default_factory=dict)
    modified_at: datetime | None = None
    read_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WriteOp:
    """One write the pipeline asks a connector to make.

    * ``upsert``: match on ``binding.external_id == match``; insert when absent, else update.
    * ``update``: the record with native key ``key``; ``values`` may include the external_id.
    * ``delete``: the record with native key ``key``.

    Attributes:
        action: what to do.
        ref: an opaque correlation id, echoed in the outcome (the source record's key).
        values: native field -> value to set.
        match: the external-id value to upsert on (the other system's key).
        key: the native key in this system, when known.
        guard: for an ``update``: made only if the record is still as read (see
            :class:`WriteGuard`); ``None`` for every write that overwrites nothing the
            target may have edited.
    """

    action: WriteAction
    ref: str
    values: Mapping[str, Any] = field(default_factory=dict)
    match: str | None = None
    key: str | None = None
    guard: WriteGuard | None = None


CHANGED_MEANWHILE = "CHANGED_MEANWHILE"
"""The error code of an outcome whose :class:`WriteGuard` failed (``changed`` set): the
record changed since it was read, and nothing was written."""


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """The target's answer for one :class:`WriteOp`.

    Attributes:
        ref: the op's ``ref``.
        ok: the target confirmed the write.
        key: the record's native key in the target (set when ``ok``).
        created: the write inserted a new record.
        error: why the target refused this record (when not ``ok``).
        changed: the op's :class:`WriteGuard` failed: the record changed since it was read,
            and nothing was written (not ``ok``, and not a refusal of the record either).
    """

    ref: str
    ok: bool
    key: str | None = None
    created: bool = False
    error: RecordRejected | None = None
    changed: bool = False


FieldType = Literal[
    "id",
    "string",
    "text",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "reference",
    "boolean",
    "integer",
    "number",
    "currency",
    "percent",
    "date",
    "datetime",
    "other",
]


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A native field as the system describes it."""

    name: str
    type: FieldType
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    length: int | None = None
    unique: bool = False
    external_id: bool = False
    picklist: tuple[str, ...] | None = None
    restricted_picklist: bool = False
    reference_to: tuple[str, ...] = ()
    required_on_create: bool = False
    scale: int | None = None
    """Digits after the point: the decimal places a number, currency or percent field holds
    (Salesforce ``scale``, SQL ``NUMERIC(p, s)``), or the fractional-second digits a datetime
    field keeps (MariaDB ``DATETIME(fsp)``, PostgreSQL ``timestamp(p)``, Salesforce's
    milliseconds); None: not known, or neither."""


@dataclass(frozen=True, slots=True)
class EntitySchema:
    """A native object as the system describes it."""

    source: str
    fields: Mapping[str, FieldInfo]


@runtime_checkable
class Connector(Protocol):
    """The contract between the pipeline and one system."""

    system: str
    """Short name of the system kind, e.g. ``salesforce`` or ``sql``."""

    async def open(self) -> None:
        """Connect and authenticate; raise :class:`~tandem.errors.Fatal` when impossible."""

    async def close(self) -> None:
        """Release connections; safe to call twice."""

    async def describe(self, binding: EntityBinding) -> EntitySchema:
        """The native schema of ``binding.source``."""

    def read_changes(
        self, binding: EntityBinding, since: Cursor | None, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        """Changes after ``since`` (all records when ``None``), in cursor order.

        A connector may first return changes at or behind ``since`` (late commits, re-reads),
        which the pipeline neither counts as new nor moves its cursor back for.
        """

    def read_all(self, binding: EntityBinding, batch_size: int) -> AsyncIterator[Sequence[Change]]:
        """Every live record, in key order, in batches."""

    async def read_records(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
        """The current state of the given records; absent or deleted keys are left out."""

    async def write_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        """Apply the ops; one outcome per op, in order."""

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Block until the system signals a change (True) or ``timeout`` seconds pass (False)."""


@runtime_checkable
class ChangeProbe(Protocol):
    """Optional: tell cheaply, for many objects in one call, whether anything changed.

    A remote system whose reads cost API calls (Salesforce) implements it so an idle
    continuous sync spends one call per poll instead of one or two per entity.
    """

    async def fingerprints(
        self, windows: Sequence[tuple[EntityBinding, datetime]]
    ) -> dict[str, str]:
        """An opaque fingerprint of each binding's changes after its instant, by binding name.

        The fingerprint must differ whenever a record was created, changed or deleted after
        the instant, including a change that commits late with an older timestamp.
        """


@runtime_checkable
class Submitter(Protocol):
    """Optional: hand a batch of writes over now, come back for the outcomes later.

    A system that processes large writes on its own time (a Salesforce Bulk job) implements
    it, so the engine commits the previous batch while the system works on this one.
    """

    async def submit_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
        """Start applying ``ops``; the returned coroutine function gives ``write_batch``'s
        outcomes (and raises what it would)."""


@runtime_checkable
class MergeLookup(Protocol):
    """Optional: tell which deleted records a merge deleted, and into which record.

    A system whose users merge duplicates (Salesforce: Account, Contact, Lead) implements
    it. The pipeline asks before it carries a delete of a linked record to the other system:
    a delete may reach it without :attr:`Change.merged_into` (``getDeleted``, a record the
    work queue found gone).
    """

    async def merged_into(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, str]:
        """Of the deleted records among ``keys``, those a merge deleted: key -> the key of
        the record each was merged into. An object that cannot be merged gives ``{}``."""


@runtime_checkable
class KeyNormaliser(Protocol):
    """Optional: take a key of this system, written in any of its forms, in the one form its
    reads answer with.

    A system that names a record in several forms (Salesforce: the case-sensitive
    15-character Id and the case-safe 18-character one) implements it. The pipeline takes a
    key that the other system holds of this system's record (its external-ID field) in this
    form before it looks the record up or links it: the links hold the form reads answer
    with. A connector without it has one form of each key, taken as it is.
    """

    def normalise_key(self, key: str) -> str:
        """``key`` in the form this system's reads answer with; a key in no form this
        system knows as it is (it is found by no read)."""


@runtime_checkable
class SchemaCache(Protocol):
    """Optional: take a description saved by an earlier run instead of describing again.

    A system whose describe costs an API call (Salesforce) implements it; the engine reuses a
    saved description while it is younger than the flow's ``describe_cache_seconds``.
    """

    def prime_schema(self, binding: EntityBinding, schema: EntitySchema) -> None:
        """Use ``schema`` as the description of ``binding.source`` for this run."""

    def forget_schema(self, binding: EntityBinding) -> None:
        """Describe ``binding.source`` anew at the next :meth:`Connector.describe`: the engine's
        describe again during a run (``describe_cache_seconds``), or after a write refused as a
        whole, must reach the system, not a description this process holds."""


@runtime_checkable
class Advisor(Protocol):
    """Optional: what the operator should change in the system's setup (``tandem check``).

    For example an ERP change log installed by an earlier release, or a database user that
    lacks a privilege a guarantee needs: the flow runs, but with less than it could.
    """

    async def advice(self) -> list[str]:
        """Each a sentence naming what is missing, what it costs and what to do."""


@dataclass(frozen=True)
class Finding:
    """What a connector found about one binding's setup at ``tandem check``.

    ``setting`` names the binding's setting it concerns (``key``); ``error``: writes would be
    refused (check fails), else a warning: the flow runs, but nothing guards what it relies on.
    """

    message: str
    setting: str
    error: bool = False


@runtime_checkable
class Auditor(Protocol):
    """Optional: what ``tandem check`` should say about one binding beyond its schema.

    For example a SQL table whose key column nothing declares unique: a write by a key that
    several rows hold is refused, so check names the column and the duplicates it finds.
    Only ``tandem check`` asks (an audit may cost a look at the data, bounded in time).
    """

    async def audit(self, binding: EntityBinding) -> list[Finding]:
        """What is wrong or unguarded in ``binding``'s setup, each naming table and column."""


@runtime_checkable
class Learner(Protocol):
    """Optional: numbers a connector learns about its system and can be told in a later run.

    For example, how long the org takes per row of a Bulk job, so the first job of a new
    process is polled when it is likely done instead of at a guess.
    """

    def learned(self) -> dict[str, float]:
        """What it has learned so far, as plain numbers by name."""

    def recall(self, values: Mapping[str, float]) -> None:
        """Take numbers learned by an earlier run (unknown names are ignored)."""


async def sleep_wait(timeout: float) -> bool:  # noqa: ASYNC109
    """``wait_for_change`` for systems that cannot signal: sleep, then report no signal."""
    await asyncio.sleep(timeout)
    return False


def utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


__all__ = [
    "CHANGED_MEANWHILE",
    "EPOCH",
    "KEY_LENGTH",
    "Advisor",
    "Auditor",
    "Change",
    "ChangeProbe",
    "Connector",
    "Cursor",
    "EntityBinding",
    "EntitySchema",
    "FieldInfo",
    "FieldType",
    "Finding",
    "KeyNormaliser",
    "Learner",
    "MergeLookup",
    "SchemaCache",
    "Submitter",
    "UnreadableFields",
    "WriteAction",
    "WriteGuard",
    "WriteOp",
    "WriteOutcome",
    "sleep_wait",
    "utc",
]
