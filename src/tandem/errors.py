"""The one exception hierarchy of Tandem.

Errors are grouped by what the caller should do with them::

    TandemError
    +- ConfigError            bad flow spec or credentials: stop at start; names file, line, field
    |  +- BindingError        a connector found an entity's binding wrong (unknown column, table)
    +- ConnectorError         (system, operation) a call to an ERP or CRM failed
    |  +- Retriable           429, 5xx, timeouts, UNABLE_TO_LOCK_ROW: back off, honour Retry-After
    |     +- Stopping         a wait between tries cut short: the agent is stopping
    |  +- Fatal               auth after one refresh, permission, quota spent: stop this flow, alert
    |  +- RecordRejected      one record's data is bad: dead-letter it, with the message; go on
    +- MappingError           a value cannot be mapped or fails validation; becomes a dead letter
    +- StoreError             state could not be saved: stop, resume later, lose nothing
       +- StoreBusy           a lock held elsewhere outlasted the wait: nothing saved, try again

Vendor exceptions (httpx, SQLAlchemy, ...) are translated at the boundary with ``raise X from exc``.
Messages never carry secrets.
"""

from __future__ import annotations

from typing import Any


class TandemError(Exception):
    """Base class of every error Tandem raises on purpose."""


class ConfigError(TandemError):
    """The flow spec, a secret reference or a mapping is wrong; raised before any write.

    Attributes:
        file: the config file, when known.
        line: 1-based line in that file, when known.
        field: dotted path of the offending setting, e.g. ``entities.customer.fields[2].crm``.
        detail: the message without the location.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.detail = message
        where = ":".join(str(p) for p in (file, line) if p is not None)
        prefix = f"{where}: " if where else ""
        at = f"{field}: " if field else ""
        super().__init__(f"{prefix}{at}{message}")


class BindingError(ConfigError):
    """A connector found that an entity's binding does not fit its system: no such column, table.

    A connector knows neither the flow file nor the side it serves, so it names the entity, the
    binding setting at fault and the native name; :meth:`tandem.config.FlowSpec.place` turns the
    error into one naming the file, the line and the exact setting (``field``), e.g.
    ``entities.customer.fields[0].erp``. Until then ``field`` is ``entities.<entity>``.

    Attributes:
        entity: the flow entity whose binding is at fault.
        setting: the binding's setting, relative to the side's part of the entity: ``source``,
            ``key``, ``external_id``, ``options.<name>`` (``options.modified_column``), or
            ``fields`` for a native field the entity's fields read (by name or in an
            expression, or its delete flag).
        native: the native name at fault: the column or table.
        also: more faults of the same binding found with this one (each a
            :class:`BindingError`), so that one check names them all.
    """

    def __init__(
        self,
        message: str,
        *,
        entity: str,
        setting: str,
        native: str,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.entity = entity
        self.setting = setting
        self.native = native
        self.also: tuple[BindingError, ...] = ()
        super().__init__(message, file=file, line=line, field=field or f"entities.{entity}")

    def each(self) -> list[BindingError]:
        """This fault and those found with it (:attr:`also`)."""
        return [self, *self.also]


class ConnectorError(TandemError):
    """A call to an external system failed.

    Attributes:
        system: which system, e.g. ``salesforce`` or ``erp``.
        operation: what was being done, e.g. ``upsert Account``.
        code: the system's error code when it gave one (``UNABLE_TO_LOCK_ROW``).
    """

    def __init__(
        self, message: str, *, system: str, operation: str, code: str | None = None
    ) -> None:
        self.system = system
        self.operation = operation
        self.code = code
        super().__init__(f"{system} {operation}: {message}")


class Retriable(ConnectorError):
    """A transient failure; the same call may succeed later.

    Attributes:
        retry_after: seconds the system asked us to wait, when it said so.
    """

    def __init__(
        self,
        message: str,
        *,
        system: str,
        operation: str,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, system=system, operation=operation, code=code)
        self.retry_after = retry_after


class Stopping(Retriable):
    """A wait before the next try (a long ``Retry-After``) was cut short because the agent is
    stopping: the call was not made again, so nothing of it can be committed."""


class Fatal(ConnectorError):
    """A failure that retrying will not fix: stop the flow and alert a person."""


class RecordRejected(ConnectorError):
    """The target refused one record because of its data.

    Attributes:
        record: the record's key in the source system.
        field: the offending field, when the system named one.
        value: the offending value, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        system: str,
        operation: str,
        record: str,
        code: str | None = None,
        field: str | None = None,
        value: Any = None,
    ) -> None:
        super().__init__(message, system=system, operation=operation, code=code)
        self.record = record
        self.field = field
        self.value = value


class MappingError(TandemError):
    """A value cannot be mapped or is invalid for the canonical model.

    Attributes:
        record: the record's key in the source system.
        field: the canonical or source field.
        value: the offending value.
    """

    code: str | None = None
    """A machine-readable reason where one applies (kept with the dead letter)."""

    def __init__(self, message: str, *, record: str, field: str, value: Any) -> None:
        self.record = record
        self.field = field
        self.value = value
        super().__init__(f"record {record}, field {field}, value {value!r}: {message}")


class UnlinkedReference(MappingError):
    """A record refers to a record of ``entity`` that has no partner in ``side`` yet.

    The referring record is parked in the dead-letter queue under :attr:`code`; once the
    referenced record is linked, the next pass takes it up again by itself.
    """

    code = "UNLINKED_REF"

    def __init__(
        self, message: str, *, record: str, field: str, value: Any, entity: str, side: str
    ) -> None:
        self.entity = entity
        self.side = side
        super().__init__(message, record=record, field=field, value=value)


class StoreError(TandemError):
    """The state store could not be read or written; the pass stops and resumes later."""


class StoreBusy(StoreError):
    """The state database stayed locked longer than Tandem waits (SQLite's ``database is
    locked``, a lock or deadlock timeout on a server), another process holding a lock.

    The transaction was rolled back whole, so nothing of it was saved: a continuous run
    backs off and tries the pass again, a one-off command stops with the message.
    """


class LinkClash(StoreError):
    """A link asked for would take a key already linked to another partner.

    Attributes:
        erp_key: the ERP key of the link asked for.
        crm_key: the CRM key of the link asked for.
    """

    def __init__(self, message: str, *, erp_key: str, crm_key: str) -> None:
        self.erp_key = erp_key
        self.crm_key = crm_key
        super().__init__(message)


__all__ = [
    "BindingError",
    "ConfigError",
    "ConnectorError",
    "Fatal",
    "LinkClash",
    "MappingError",
    "RecordRejected",
    "Retriable",
    "Stopping",
    "StoreBusy",
    "StoreError",
    "TandemError",
    "UnlinkedReference",
]
