"""The work queue's drain: records queued for another try are read again and synced.

Dead-letter retries, conflict resolutions and reconcile heals queue records; each pass takes
what is due before it reads the sources.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from tandem.config import Side
from tandem.connectors.base import Change
from tandem.errors import ConfigError
from tandem.pipeline.batch import BatchProcessor
from tandem.pipeline.context import EntityContext, Systems
from tandem.pipeline.passkeys import PassKeys
from tandem.store import StateStore, WorkItem

WORK_CHUNK = 500
"""Queued records a pass takes, re-reads and syncs at a time."""

FAILED_AGAIN_SECONDS = 60.0
"""How long a chunk whose re-read or sync failed waits before it is due again."""


class WorkDrain:
    """Takes a flow's due work in chunks and syncs it through a processor."""

    def __init__(
        self,
        flow: str,
        store: StateStore,
        systems: Systems,
        context: Callable[[str], EntityContext],
    ) -> None:
        self.flow = flow
        self.store = store
        self.systems = systems
        self.context = context
        """The context of an entity by name; :class:`ConfigError` for one the flow lacks."""

    async def drain(self, processor: BatchProcessor) -> None:
        """Re-read and re-sync the records queued for another try, all that are due, in
        chunks of :data:`WORK_CHUNK` (a retry of many dead letters, a reconcile --heal).

        A record queued again while this drain runs (a reference it waited for got linked)
        waits for the next drain: a pass never takes the same record twice. The records taken
        are kept in memory up to a few thousand, the rest on disk until the drain ends
        (:class:`PassKeys`), so a heal of 100,000 records costs no more memory than one of
        5,000. A dry run's processor plans them all too (what ``sync`` would send) and
        leaves them queued.
        """
        if processor.dry_run:
            seen = 0
            while True:
                items = self.store.due_work(self.flow, WORK_CHUNK, offset=seen)
                await self._chunk(processor, items)
                seen += len(items)
                if len(items) < WORK_CHUNK:
                    return
        # every record taken: past the first few thousand, on disk (a heal of 100,000)
        with PassKeys() as taken:
            while True:
                items = self.store.take_work(self.flow, limit=WORK_CHUNK)
                again = _taken_before(taken, items)
                if again:
                    # leave them for the next drain, due at once, as they were
                    self.store.fail_work([i.id for i in again], 0.0)
                    left = {i.id for i in again}
                    items = [i for i in items if i.id not in left]
                for (entity, side), group in _by_record_kind(items).items():
                    taken.put(entity, side, ((i.record_key, b"") for i in group))
                await self._chunk(processor, items)
                if again or len(items) < WORK_CHUNK:
                    return

    async def _chunk(self, processor: BatchProcessor, items: Sequence[WorkItem]) -> None:
        """Re-read and re-sync one chunk of queued records."""
        dry_run = processor.dry_run
        groups: dict[tuple[str, Side], list[int]] = defaultdict(list)
        keys: dict[tuple[str, Side], list[str]] = defaultdict(list)
        for item in items:
            groups[(item.entity, item.side)].append(item.id)
            keys[(item.entity, item.side)].append(item.record_key)
        for (entity, side), ids in groups.items():
            try:
                ctx = self.context(entity)
            except ConfigError:  # an entity the flow no longer has
                if not dry_run:
                    self.store.finish_work(ids)
                continue
            wanted = list(dict.fromkeys(keys[(entity, side)]))
            try:
                found = await self.systems.of(side).read_records(ctx.bindings[side], wanted)
                now = datetime.now(UTC)
                changes = [found.get(key) or Change(key, {}, now, deleted=True) for key in wanted]
                await processor.process(ctx, side, changes, cursor=None, queued=True)
            except Exception:
                if not dry_run:
                    self.store.fail_work(ids, FAILED_AGAIN_SECONDS)
                raise
            if not dry_run:
                self.store.finish_work(ids)


def _by_record_kind(items: Sequence[WorkItem]) -> dict[tuple[str, Side], list[WorkItem]]:
    """``items`` per (entity, side), in their order."""
    groups: dict[tuple[str, Side], list[WorkItem]] = defaultdict(list)
    for item in items:
        groups[(item.entity, item.side)].append(item)
    return groups


def _taken_before(taken: PassKeys, items: Sequence[WorkItem]) -> list[WorkItem]:
    """Those of ``items`` whose record is in ``taken`` (asked about per entity and side)."""
    if not taken:
        return []
    again: list[WorkItem] = []
    for (entity, side), group in _by_record_kind(items).items():
        known = taken.get(entity, side, (i.record_key for i in group))
        again.extend(i for i in group if i.record_key in known)
    return again


__all__ = ["WORK_CHUNK", "WorkDrain"]
