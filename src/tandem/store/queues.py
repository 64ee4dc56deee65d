"""The state store's queues for people and for the engine: dead letters, conflicts, work.

Part of :class:`~tandem.store.StateStore` (its transactions are the store's own: each method is
one short transaction, or joins the one open in this thread or task).
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tandem.dbretry import is_deadlock
from tandem.errors import StoreError
from tandem.store import conflicts as _conflicts
from tandem.store import deadletters as _dead
from tandem.store import work as _work
from tandem.store.records import Conflict, DeadLetter, Resolution, Side, WorkItem

TAKE_ATTEMPTS = 4
"""How often :meth:`QueueMethods.take_work` runs its transaction when it loses a deadlock."""


class QueueMethods(ABC):
    """Dead letters, conflicts and the work queue of a :class:`~tandem.store.StateStore`."""

    _lease: timedelta
    _clock: Callable[[], datetime]
    _active: ContextVar[sa.Connection | None]

    @abstractmethod
    def _tx(
        self, operation: str, *, read_only: bool = False
    ) -> AbstractContextManager[sa.Connection]:
        """Join the transaction open in this thread or task, or run one of its own."""

    def _read(self, operation: str) -> AbstractContextManager[sa.Connection]:
        """:meth:`_tx` for a call that only reads."""
        return self._tx(operation, read_only=True)

    # -- dead letters --------------------------------------------------------------------

    def add_dead_letter(
        self,
        *,
        flow: str,
        entity: str,
        side: Side,
        record_key: str,
        message: str,
        field: str | None = None,
        value: Any = None,
        code: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> int:
        """Record a failed record; an open or retrying letter of it gets ``attempts + 1``.

        ``value`` is stored as text (``repr`` unless it is a string), truncated to 1,000
        characters. Returns the dead letter's id.
        """
        with self._tx(f"add dead letter {flow}/{entity}/{side}/{record_key}") as conn:
            return _dead.add(
                conn,
                flow=flow,
                entity=entity,
                side=side,
                record_key=record_key,
                message=message,
                field=field,
                value=value,
                code=code,
                payload=payload,
                now=self._clock(),
            )

    def dead_letters(
        self,
        *,
        flow: str | None = None,
        status: str | None = "open",
        entity: str | None = None,
        limit: int = 100,
        offset: int = 0,
        code: str | None = None,
    ) -> list[DeadLetter]:
        """Dead letters, oldest first; ``status=None`` lists every status."""
        with self._read("list dead letters") as conn:
            return _dead.listing(
                conn,
                flow=flow,
                status=status,
                entity=entity,
                limit=limit,
                offset=offset,
                code=code,
            )

    def dead_letters_by_id(self, ids: Sequence[int]) -> list[DeadLetter]:
        """The dead letters with the given ids (unknown ids are left out)."""
        with self._read("read dead letters") as conn:
            return _dead.by_ids(conn, ids)

    def set_dead_letter_status(self, ids: Sequence[int], status: str) -> int:
        """Move dead letters to ``status``; returns how many changed.

        Raises:
            StoreError: ``status`` is not open, retrying, resolved or dropped.
        """
        with self._tx("set dead-letter status") as conn:
            return _dead.set_status(conn, ids, status, self._clock())

    def resolve_dead_letters(
        self, flow: str, entity: str, side: Side, record_keys: Sequence[str]
    ) -> int:
        """Mark the open/retrying letters of records that went through later as resolved."""
        with self._tx(f"resolve dead letters of {flow}/{entity}") as conn:
            return _dead.resolve(conn, flow, entity, side, record_keys, self._clock())

    def unsolved_dead_letters(
        self, flow: str, entity: str, side: Side, record_keys: Sequence[str]
    ) -> set[str]:
        """Of ``record_keys``, those with an open or retrying dead letter."""
        with self._read(f"look up dead letters of {flow}/{entity}") as conn:
            return _dead.unsolved_keys(conn, flow, entity, side, record_keys)

    # -- conflicts -----------------------------------------------------------------------

    def add_conflict(
        self,
        *,
        flow: str,
        entity: str,
        erp_key: str,
        field: str,
        crm_key: str | None = None,
        base_value: Any = None,
        erp_value: Any = None,
        crm_value: Any = None,
        erp_modified: datetime | None = None,
        crm_modified: datetime | None = None,
    ) -> int:
        """Record a conflict; an open one on the same record and field is updated.

        Values are any :mod:`tandem.codec` values. Returns the conflict's id.
        """
        with self._tx(f"add conflict {flow}/{entity}/{erp_key}/{field}") as conn:
            return _conflicts.add(
                conn,
                flow=flow,
                entity=entity,
                erp_key=erp_key,
                crm_key=crm_key,
                field=field,
                base_value=base_value,
                erp_value=erp_value,
                crm_value=crm_value,
                erp_modified=erp_modified,
                crm_modified=crm_modified,
                now=self._clock(),
            )

    def conflicts(
        self,
        *,
        flow: str | None = None,
        status: str | None = "open",
        entity: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Conflict]:
        """Conflicts, oldest first; ``status=None`` lists both open and resolved."""
        with self._read("list conflicts") as conn:
            return _conflicts.listing(
                conn, flow=flow, status=status, entity=entity, limit=limit, offset=offset
            )

    def conflict(self, conflict_id: int) -> Conflict | None:
        """The conflict with this id (open or resolved), or ``None``."""
        with self._read(f"read conflict {conflict_id}") as conn:
            return _conflicts.by_id(conn, conflict_id)

    def resolve_conflict(
        self, conflict_id: int, resolution: Resolution, value: Any = None
    ) -> Conflict:
        """Decide a conflict: ``erp``/``crm`` take that side's value, ``value`` takes ``value``.

        Raises:
            StoreError: the conflict does not exist or is already resolved.
        """
        with self._tx(f"resolve conflict {conflict_id}") as conn:
            return _conflicts.resolve(conn, conflict_id, resolution, value, self._clock())

    def open_conflict_fields(
        self, flow: str, entity: str, erp_keys: Sequence[str]
    ) -> dict[str, set[str]]:
        """ERP key -> fields with an open conflict (the pipeline leaves those alone)."""
        with self._read(f"read open conflicts of {flow}/{entity}") as conn:
            return _conflicts.open_fields(conn, flow, entity, erp_keys)

    # -- work queue ----------------------------------------------------------------------

    def enqueue(
        self,
        *,
        flow: str,
        entity: str,
        side: Side,
        record_keys: Sequence[str],
        reason: str,
        not_before: datetime | None = None,
    ) -> int:
        """Queue records to re-read from ``side``; a record already pending is not doubled.

        Returns:
            How many new items were queued.
        """
        with self._tx(f"enqueue {flow}/{entity}/{side}") as conn:
            now = self._clock()
            return _work.enqueue(
                conn,
                flow=flow,
                entity=entity,
                side=side,
                record_keys=record_keys,
                reason=reason,
                not_before=not_before or now,
                now=now,
            )

    def take_work(self, flow: str, limit: int = 500) -> list[WorkItem]:
        """Take due items (pending and due, or taken with an expired lease), oldest due first.

        They are leased for ``lease_seconds``; call :meth:`finish_work` or
        :meth:`fail_work` before the lease runs out.

        Engines sharing a PostgreSQL or MariaDB store take items side by side (``SKIP
        LOCKED``); when the database still resolves a lock conflict between two of them as a
        deadlock, the loser's whole transaction is rolled back and it takes again, a few times.
        """
        for attempt in range(1, TAKE_ATTEMPTS + 1):
            try:
                with self._tx(f"take work of {flow}") as conn:
                    return _work.take(conn, flow, limit, self._lease, self._clock())
            except StoreError as exc:
                joined = self._active.get() is not None  # an outer transaction: not ours to rerun
                if joined or attempt == TAKE_ATTEMPTS or not is_deadlock(exc):
                    raise
                time.sleep(random.uniform(0.01, 0.05) * attempt)
        raise AssertionError("unreachable")  # the last attempt returned or raised

    def due_work(self, flow: str, limit: int = 500, offset: int = 0) -> list[WorkItem]:
        """The items :meth:`take_work` would take, oldest due first, left untaken (after the
        first ``offset`` of them)."""
        with self._read(f"look at work of {flow}") as conn:
            return _work.due(conn, flow, limit, self._clock(), offset)

    def finish_work(self, ids: Sequence[int]) -> None:
        """Remove items that were processed."""
        with self._tx("finish work") as conn:
            _work.finish(conn, ids)

    def fail_work(self, ids: Sequence[int], delay_seconds: float) -> None:
        """Put items back, due again after ``delay_seconds``."""
        with self._tx("fail work") as conn:
            _work.fail(conn, ids, delay_seconds, self._clock())


__all__ = ["TAKE_ATTEMPTS", "QueueMethods"]
