"""An in-memory system behind the connector contract, with injectable per-record refusals.

It keeps records as dicts with a modification clock, reports changes in cursor order and
answers writes like a real system: upserts keyed by the external-id field, per-record
refusals in the outcome, and a count of write calls.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tandem.connectors.base import (
    Change,
    Cursor,
    EntityBinding,
    EntitySchema,
    FieldInfo,
    WriteOp,
    WriteOutcome,
    sleep_wait,
)
from tandem.errors import RecordRejected

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryConnector:
    """A system with one object per binding source, held in memory."""

    def __init__(self, system: str, *, key_prefix: str = "") -> None:
        self.system = system
        self.key_prefix = key_prefix
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.modified: dict[tuple[str, str], datetime] = {}
        self.deleted: dict[tuple[str, str], datetime] = {}
        self.clock = itertools.count(1)
        self.ids = itertools.count(1)
        self.write_calls = 0
        self.reads = 0
        self.probes = 0
        self.refuse: Callable[[WriteOp], str | None] = lambda op: None

    def _tick(self) -> datetime:
        return T0 + timedelta(seconds=next(self.clock))

    def put(self, source: str, key: str, values: dict[str, Any]) -> None:
        """Change a record as a user of the system would."""
        self.records.setdefault(source, {}).setdefault(key, {}).update(values)
        self.modified[(source, key)] = self._tick()

    def remove(self, source: str, key: str) -> None:
        """Delete a record as a user of the system would."""
        self.records.get(source, {}).pop(key, None)
        self.deleted[(source, key)] = self._tick()

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def describe(self, binding: EntityBinding) -> EntitySchema:
        names = (*binding.fields, *([binding.external_id] if binding.external_id else []))
        return EntitySchema(binding.source, {n: FieldInfo(n, "string") for n in names})

    def _changes(self, source: str) -> list[Change]:
        live = [
            Change(k, dict(v), self.modified[(source, k)])
            for k, v in self.records.get(source, {}).items()
        ]
        gone = [
            Change(k, {}, at, deleted=True)
            for (s, k), at in self.deleted.items()
            if s == source and k not in self.records.get(source, {})
        ]
        return sorted(live + gone, key=lambda c: c.cursor)

    async def fingerprints(
        self, windows: Sequence[tuple[EntityBinding, datetime]]
    ) -> dict[str, str]:
        self.probes += 1
        out = {}
        for binding, since in windows:
            recent = [c for c in self._changes(binding.source) if c.modified_at > since]
            latest = max((c.modified_at for c in recent), default=None)
            out[binding.name] = f"{len(recent)}/{latest}"
        return out

    async def read_changes(
        self, binding: EntityBinding, since: Cursor | None, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        self.reads += 1
        changes = [c for c in self._changes(binding.source) if since is None or c.cursor > since]
        for start in range(0, len(changes), batch_size):
            yield changes[start : start + batch_size]

    async def read_all(
        self, binding: EntityBinding, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        live = [c for c in self._changes(binding.source) if not c.deleted]
        for start in range(0, len(live), batch_size):
            yield live[start : start + batch_size]

    async def read_records(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
        table = self.records.get(binding.source, {})
        return {
            k: Change(k, dict(table[k]), self.modified[(binding.source, k)])
            for k in keys
            if k in table
        }

    async def write_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        self.write_calls += 1
        table = self.records.setdefault(binding.source, {})
        outcomes = []
        for op in ops:
            reason = self.refuse(op)
            if reason is not None:
                error = RecordRejected(
                    reason,
                    system=self.system,
                    operation=op.action,
                    record=op.ref,
                    code="REFUSED",
                    field="name",
                    value=op.values.get("Name"),
                )
                outcomes.append(WriteOutcome(op.ref, False, error=error))
                continue
            if op.action == "delete":
                if op.key is not None:
                    self.remove(binding.source, op.key)
                outcomes.append(WriteOutcome(op.ref, True, key=op.key))
                continue
            key = op.key
            created = False
            if op.action == "upsert":
                ext = binding.external_id
                key = next((k for k, v in table.items() if ext and v.get(ext) == op.match), None)
                if key is None:
                    key, created = self._new_key(table), True
            assert key is not None
            if op.action == "update" and key not in table:
                gone = RecordRejected(
                    "entity is deleted",
                    system=self.system,
                    operation="update",
                    record=op.ref,
                    code="ENTITY_IS_DELETED",
                )
                outcomes.append(WriteOutcome(op.ref, False, error=gone))
                continue
            self.put(binding.source, key, dict(op.values))
            outcomes.append(WriteOutcome(op.ref, True, key=key, created=created))
        return outcomes

    def _new_key(self, table: dict[str, dict[str, Any]]) -> str:
        while True:
            key = f"{self.key_prefix}{next(self.ids)}"
            if key not in table:
                return key

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109
        return await sleep_wait(min(timeout, 0.01))
