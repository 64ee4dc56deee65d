"""Events the pipeline emits: what a rules layer, the console or a progress bar consumes.

Every event is a frozen dataclass; subscribers are plain callables (sync or async). A
subscriber that raises is logged and skipped: a broken rule never stops the sync.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tandem.config import Side

log = logging.getLogger(__name__)

Action = Literal["create", "update", "delete", "link", "revert"]


@dataclass(frozen=True, slots=True)
class RecordSynced:
    """A record was written to ``target`` and the state committed."""

    entity: str
    source: Side
    target: Side
    erp_key: str | None
    crm_key: str | None
    action: Action
    changed: tuple[str, ...]
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class RecordDeadLettered:
    """A record could not be synced; it waits in the dead-letter queue."""

    entity: str
    side: Side
    record_key: str
    field: str | None
    message: str


@dataclass(frozen=True, slots=True)
class ConflictRaised:
    """The same field changed on both sides; the policy queued it for a person."""

    entity: str
    erp_key: str | None
    crm_key: str | None
    field: str
    erp_value: Any
    crm_value: Any


@dataclass(frozen=True, slots=True)
class BatchDone:
    """A batch of source changes went through plan and delivery."""

    entity: str
    source: Side
    read: int
    written: int
    skipped: int
    failed: int


@dataclass(frozen=True, slots=True)
class RecordsCompared:
    """Reconcile read a batch of ``side``'s records of ``entity`` (``records`` of them)."""

    entity: str
    side: Side
    records: int


@dataclass(frozen=True, slots=True)
class PassDone:
    """One sync pass over every entity ended."""

    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


Event = RecordSynced | RecordDeadLettered | ConflictRaised | BatchDone | RecordsCompared | PassDone
Subscriber = Callable[[Event], None] | Callable[[Event], Awaitable[None]]


class EventBus:
    """Fan-out of pipeline events to subscribers, in subscription order."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[type[Any] | None, Subscriber]] = []

    def subscribe(self, subscriber: Subscriber, kind: type[Any] | None = None) -> None:
        """Call ``subscriber`` for every event, or only for events of type ``kind``."""
        self._subscribers.append((kind, subscriber))

    @property
    def active(self) -> bool:
        """Whether anyone listens (lets the pipeline skip building events nobody reads)."""
        return bool(self._subscribers)

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every interested subscriber."""
        for kind, subscriber in self._subscribers:
            if kind is not None and not isinstance(event, kind):
                continue
            try:
                result = subscriber(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber, type(event).__name__)


__all__ = [
    "Action",
    "BatchDone",
    "ConflictRaised",
    "Event",
    "EventBus",
    "PassDone",
    "RecordDeadLettered",
    "RecordSynced",
    "RecordsCompared",
    "Subscriber",
]
