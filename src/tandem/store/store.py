"""The state store's one public class, :class:`StateStore`.

Each method is one short transaction, or joins the transaction opened by
:meth:`StateStore.transaction` in the same thread or task, so the state, cursor and audit of
one delivered batch commit together or not at all. Every database error comes out as
:class:`~tandem.errors.StoreError`.

The schema is never changed behind the user's back: a store whose schema is missing or
older than this code raises :class:`~tandem.errors.StoreError` on first use, asking for
``tandem store migrate``; ``StateStore(url, auto_migrate=True)`` migrates on open instead
(meant for the default SQLite file and for tests).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tandem.connectors.base import Cursor
from tandem.errors import StoreError, UnlinkedReference
from tandem.store import audit as _audit
from tandem.store import conflicts as _conflicts
from tandem.store import cursors as _cursors
from tandem.store import deadletters as _dead
from tandem.store import leases as _leases
from tandem.store import legacy as _legacy
from tandem.store import owner as _owner
from tandem.store import snapshots as _snapshots
from tandem.store import synced as _synced
from tandem.store import work as _work
from tandem.store import xref as _xref
from tandem.store.engine import READ_ONLY, check_schema, create_engine, migrate, translated
from tandem.store.queues import QueueMethods
from tandem.store.records import (
    AuditEntry,
    Side,
    SyncedState,
    now_utc,
)

_ids = itertools.count()


class StateStore(QueueMethods):
    """Links, synced state, cursors, dead letters, conflicts, work queue and audit log.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path/state.db`` (the folder is created),
            ``postgresql+psycopg://user@host/db``, ``mariadb+pymysql://user@host/db``.
        auto_migrate: run :meth:`migrate` now instead of refusing an old schema.
        lease_seconds: how long a taken work item stays taken before it can be retaken.
        clock: the source of "now" (aware UTC); tests pass a fake one. Without one, leases
            are timed by the database server's clock (agents on machines whose clocks
            disagree must agree on when a claim expires), everything else by this machine's.

    Raises:
        StoreError: the URL is invalid or its driver is not installed.
    """

    def __init__(
        self,
        url: str,
        *,
        auto_migrate: bool = False,
        lease_seconds: float = 300.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = create_engine(url)
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock or now_utc
        self._server_time = clock is None
        self._checked = False
        self._legacy_done: set[tuple[str, str]] = set()
        self._active: ContextVar[sa.Connection | None] = ContextVar(
            f"tandem_store_{next(_ids)}", default=None
        )
        if auto_migrate:
            self.migrate()

    @property
    def dialect(self) -> str:
        """The backend's name: ``sqlite``, ``postgresql``, ``mysql`` or ``mariadb``."""
        return self._engine.dialect.name

    def migrate(self) -> None:
        """Bring the schema to the newest revision (``alembic upgrade head``); idempotent."""
        migrate(self._engine)
        self._checked = True
        self._legacy_done.clear()  # an upgrade may have left links to repair

    def close(self) -> None:
        """Release every connection; the store must not be used afterwards."""
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit: every store call inside joins it; an exception rolls all back.

        Nested calls join the outermost transaction (no savepoints).
        """
        if self._active.get() is not None:
            yield
            return
        self._ensure_schema()
        with translated("transaction"), self._engine.begin() as conn:
            token = self._active.set(conn)
            try:
                yield
            finally:
                self._active.reset(token)

    @contextmanager
    def _tx(self, operation: str, *, read_only: bool = False) -> Iterator[sa.Connection]:
        """Join the transaction open in this thread or task, or run one of its own.

        ``read_only``: on SQLite the transaction is deferred (plain ``BEGIN``): under WAL it
        reads the last committed snapshot while another connection writes, where ``BEGIN
        IMMEDIATE`` would wait for the writer. The engine plans one batch while the batch
        before commits.
        """
        conn = self._active.get()
        if conn is not None:
            with translated(operation):
                yield conn
            return
        self._ensure_schema()
        with translated(operation), self._engine.connect() as conn:
            if read_only:
                conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn

    def _ensure_schema(self) -> None:
        if not self._checked:
            check_schema(self._engine)
            self._checked = True

    # -- ID cross-reference -------------------------------------------------------------

    def link(self, entity: str, erp_key: str, crm_key: str, *, replace: bool = False) -> None:
        """Link an ERP key to a CRM key; linking the same pair again does nothing.

        Raises:
            StoreError: either key is linked to another partner and ``replace`` is false.
        """
        self.link_many(entity, [(erp_key, crm_key)], replace=replace)

    def link_many(
        self, entity: str, pairs: Sequence[tuple[str, str]], *, replace: bool = False
    ) -> int:
        """Link many ``(erp_key, crm_key)`` pairs at once; returns how many links are new.

        Raises:
            LinkClash: a key is linked to another partner and ``replace`` is false.
        """
        with self._tx(f"link {entity}") as conn:
            return _xref.link_many(conn, entity, pairs, replace=replace, now=self._clock())

    def link_clashes(
        self, entity: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, str]]:
        """The ``(erp_key, crm_key)`` pairs whose keys are linked to other partners already,
        each with the link that holds its key."""
        with self._tx(f"look up links of {entity}") as conn:
            return _xref.clashes(conn, entity, pairs)

    def unlink(self, entity: str, side: Side, key: str) -> None:
        """Forget the link of ``key`` (a key on ``side``); unknown keys are ignored."""
        with self._tx(f"unlink {entity} {side} {key}") as conn:
            _xref.unlink(conn, entity, side, [key])

    def unlink_many(self, entity: str, side: Side, keys: Sequence[str]) -> int:
        """Forget the links of ``keys`` (keys on ``side``); returns how many went."""
        if not keys:
            return 0
        with self._tx(f"unlink {entity}") as conn:
            return _xref.unlink(conn, entity, side, keys)

    def repair_legacy_links(self, flow: str, entity: str) -> _legacy.Repair:
        """Drop the links an earlier release left to records of ``entity`` deleted in both
        systems (see :mod:`tandem.store.legacy` for what proves it); idempotent.

        Call it only for an entity whose delete policy is ``delete``. The repair runs once per
        store and entity (a memo of ``flow`` records it); later calls only read that memo,
        and none at all in the same process.
        """
        if (flow, entity) in self._legacy_done:
            return _legacy.Repair()
        with self._tx(f"drop legacy links of {entity}") as conn:
            done = _legacy.repair(conn, flow, entity, now=self._clock())
        if self._active.get() is None:  # committed (an outer transaction may still roll back)
            self._legacy_done.add((flow, entity))
        return done

    def partner(self, entity: str, side: Side, key: str) -> str | None:
        """The other side's key linked to ``key`` on ``side``, or ``None``."""
        return self.partners(entity, side, [key]).get(key)

    def partners(self, entity: str, side: Side, keys: Sequence[str]) -> dict[str, str]:
        """Bulk :meth:`partner`: linked keys on ``side`` -> partner key; unlinked keys absent."""
        with self._read(f"read links of {entity}") as conn:
            return _xref.partners(conn, entity, side, keys)

    def iter_links(self, entity: str, batch: int = 1000) -> Iterator[list[tuple[str, str]]]:
        """Every link of ``entity`` as ``(erp_key, crm_key)``, in batches (memory stays
        bounded)."""
        after = ""
        while True:
            with self._read(f"read links of {entity}") as conn:
                pairs = _xref.page(conn, entity, after, batch)
            if not pairs:
                return
            yield pairs
            after = pairs[-1][0]

    def count_links(self, entity: str) -> int:
        """How many records of ``entity`` are linked."""
        with self._read(f"count links of {entity}") as conn:
            return _xref.count(conn, entity).get(entity, 0)

    # -- synced state -------------------------------------------------------------------

    def synced(self, entity: str, side: Side, keys: Sequence[str]) -> dict[str, SyncedState]:
        """The last synced state of records, by their key on ``side``; unknown keys absent."""
        with self._read(f"read synced state of {entity}") as conn:
            return _synced.load(conn, entity, side, keys)

    def save_synced(self, states: Sequence[SyncedState]) -> None:
        """Upsert states, keyed by ``(entity, erp_key)``, else ``(entity, crm_key)``.

        A state that gains its ERP key later updates the row saved under its CRM key alone.
        A key given as ``None`` keeps the key already stored (keys are never erased here).
        Within one call the last state of a record wins.

        Raises:
            StoreError: a state has neither key, or the database refused the write.
        """
        by_entity: dict[str, list[SyncedState]] = {}
        for state in states:
            by_entity.setdefault(state.entity, []).append(state)
        if not by_entity:
            return
        with self._tx("save synced state") as conn:
            now = self._clock()
            for entity, group in by_entity.items():
                _synced.save(conn, entity, group, now)

    def delete_synced(self, entity: str, side: Side, keys: Sequence[str]) -> int:
        """Forget the synced state of records by their key on ``side``; returns how many."""
        with self._tx(f"delete synced state of {entity}") as conn:
            return _synced.delete(conn, entity, side, keys)

    def iter_synced(self, entity: str, batch: int = 1000) -> Iterator[list[SyncedState]]:
        """Every synced state of ``entity`` in batches (memory stays bounded)."""
        after = 0
        while True:
            with self._read(f"read synced state of {entity}") as conn:
                states, after = _synced.page(conn, entity, after, batch)
            if not states:
                return
            yield states
            if len(states) < batch:
                return

    # -- cursors -------------------------------------------------------------------------

    def cursor(self, flow: str, entity: str, side: Side) -> Cursor | None:
        """Where the flow last read ``side``'s changes of ``entity``; ``None`` at first."""
        with self._read(f"read cursor {flow}/{entity}/{side}") as conn:
            return _cursors.get(conn, flow, entity, side)

    def set_cursor(
        self, flow: str, entity: str, side: Side, cursor: Cursor, *, force: bool = False
    ) -> None:
        """Move the cursor forwards; a cursor behind the stored one is ignored unless ``force``."""
        with self._tx(f"save cursor {flow}/{entity}/{side}") as conn:
            _cursors.set_(conn, flow, entity, side, cursor, force=force, now=self._clock())

    def reset_cursors(self, flow: str, entity: str | None = None) -> None:
        """Forget the flow's cursors (of one entity when given): the next pass reads all."""
        with self._tx(f"reset cursors of {flow}") as conn:
            _cursors.reset(conn, flow, entity)

    # -- leases --------------------------------------------------------------------------

    def acquire_lease(
        self, name: str, holder: str, seconds: float, *, replace: str | None = None
    ) -> _leases.Lease:
        """Take or renew a lease; the caller holds it if the result names ``holder``.

        ``replace`` names a holder known to be gone, whose lease may be taken before it expires.
        """
        with self._tx(f"lease {name}") as conn:
            now = _leases.server_now(conn) if self._server_time else None
            return _leases.acquire(
                conn, name, holder, seconds, now or self._clock(), replace=replace
            )

    def release_lease(self, name: str, holder: str) -> None:
        """Give a lease up (nothing happens if ``holder`` does not hold it)."""
        with self._tx(f"release lease {name}") as conn:
            _leases.release(conn, name, holder)

    # -- schema snapshots ----------------------------------------------------------------

    def schema_snapshot(self, flow: str, side: Side, source: str) -> dict[str, Any] | None:
        """The field descriptions of ``source`` saved by the previous run, if any."""
        with self._read(f"read schema snapshot {flow}/{side}/{source}") as conn:
            return _snapshots.get(conn, flow, side, source)

    def save_schema_snapshot(
        self, flow: str, side: Side, source: str, fields: dict[str, Any]
    ) -> None:
        """Keep this run's field descriptions of ``source`` for the next drift report."""
        with self._tx(f"save schema snapshot {flow}/{side}/{source}") as conn:
            _snapshots.put(conn, flow, side, source, fields, now=self._clock())

    def dated_schema_snapshot(
        self, flow: str, side: Side, source: str
    ) -> tuple[dict[str, Any], datetime] | None:
        """The saved field descriptions of ``source`` and when they were captured."""
        with self._read(f"read schema snapshot {flow}/{side}/{source}") as conn:
            return _snapshots.get_dated(conn, flow, side, source)

    def expire_schema_snapshots(self, flow: str) -> int:
        """Make the next run describe every object of ``flow`` again (drift data is kept)."""
        with self._tx(f"expire schema snapshots of {flow}") as conn:
            return _snapshots.expire(conn, flow)

    # -- ownership ---------------------------------------------------------------------

    def bind_flow(self, flow: str) -> None:
        """Make this store ``flow``'s state; a store that holds another flow's is refused.

        Raises:
            StoreError: the store belongs to another flow (the message names both).
        """
        where = self._engine.url.render_as_string(hide_password=True)
        with self._tx(f"bind the store to flow {flow}") as conn:
            _owner.bind(conn, flow, now=self._clock(), where=where)

    def adopt_flow(self, old: str, new: str) -> dict[str, int]:
        """Give the state of flow ``old`` (a renamed flow) to ``new``; rows moved per table.

        Raises:
            StoreError: the store belongs to neither flow, or ``new`` already has state.
        """
        with self._tx(f"give the state of flow {old} to {new}") as conn:
            return _owner.rename(conn, old, new, now=self._clock())

    def memo(self, flow: str, name: str) -> Any:
        """A value a connector of ``flow`` learned in an earlier run, or None."""
        with self._read(f"read memo {flow}/{name}") as conn:
            return _snapshots.get_memo(conn, flow, name)

    def save_memo(self, flow: str, name: str, value: Any) -> None:
        """Keep a learned value for later runs."""
        with self._tx(f"save memo {flow}/{name}") as conn:
            _snapshots.put_memo(conn, flow, name, value, now=self._clock())

    # -- audit ---------------------------------------------------------------------------

    def audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append entries to the audit log."""
        with self._tx("write audit log") as conn:
            _audit.write(conn, entries)

    def audit_log(
        self,
        *,
        flow: str | None = None,
        entity: str | None = None,
        record_key: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Audit entries, newest first, filtered by whatever is given."""
        with self._read("read audit log") as conn:
            return _audit.read(conn, flow=flow, entity=entity, record_key=record_key, limit=limit)

    # -- status and retention ------------------------------------------------------------

    def stats(self, flow: str) -> dict[str, Any]:
        """A status snapshot of one flow.

        Returns:
            ``links`` (entity -> linked records, all entities: links are not per flow),
            ``open_dead_letters`` and ``retrying_dead_letters`` (int), ``parked_dead_letters``
            (the open ones waiting for a reference to be linked: no person needed),
            ``open_conflicts`` (int), ``pending_work`` and ``taken_work`` (int), ``cursors``
            (entity -> side -> :class:`~tandem.connectors.base.Cursor`), ``last_audit_at``
            (datetime or None).
        """
        with self._read(f"read status of {flow}") as conn:
            letters = _dead.count_open(conn, flow)
            parked = _dead.count_open_with_code(conn, flow, UnlinkedReference.code)
            queue = _work.count(conn, flow)
            return {
                "links": _xref.count(conn),
                "open_dead_letters": letters.get("open", 0),
                "retrying_dead_letters": letters.get("retrying", 0),
                "parked_dead_letters": parked,
                "open_conflicts": _conflicts.count_open(conn, flow),
                "pending_work": queue.get("pending", 0),
                "taken_work": queue.get("taken", 0),
                "cursors": _cursors.all_of(conn, flow),
                "last_audit_at": _audit.last_at(conn, flow),
            }

    def prune(self, *, audit_days: int, dead_letter_days: int) -> int:
        """Delete old history; returns how many rows went.

        Removes audit entries older than ``audit_days``, and resolved/dropped dead letters
        and resolved conflicts untouched for ``dead_letter_days``. Open items are never pruned.
        """
        if audit_days < 0 or dead_letter_days < 0:
            raise StoreError("retention days must not be negative")
        with self._tx("prune history") as conn:
            now = self._clock()
            letters_before = now - timedelta(days=dead_letter_days)
            return (
                _audit.prune(conn, now - timedelta(days=audit_days))
                + _dead.prune(conn, letters_before)
                + _conflicts.prune(conn, letters_before)
            )


__all__ = ["StateStore"]
