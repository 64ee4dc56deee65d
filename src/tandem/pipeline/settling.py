"""Settling: handed-over batches get their outcomes and commit in order, beside the planning.

Once a batch is handed to its target, the rest of its life (ask for its outcomes, write back to
its source, commit, publish) runs on a task of its own, so the engine reads and plans the next
batch meanwhile: the state store's own work (SQLite and the drivers release the GIL) and the
outcome round trips overlap Tandem's mapping and planning.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from tandem.pipeline.batch import BatchProcessor, PreparedBatch
from tandem.pipeline.deliver import Collect

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Handed:
    keys: frozenset[str]
    task: asyncio.Task[None]
    written: asyncio.Event


class SettleLine:
    """Batches handed to a target, each settled by a task that first waits for the one before.

    Commits stay in order, and once a batch fails to settle no later one commits (its cursor
    would pass the failed batch's records). A later batch is still let land, so its writes are
    not cut off half way; the next pass reads it again and re-sends it as idempotent writes.

    Args:
        processor: settles a batch (outcomes, write-back, commit, publish).
        entity: the entity's name, for logs.
    """

    def __init__(self, processor: BatchProcessor, entity: str) -> None:
        self._processor = processor
        self._entity = entity
        self._handed: deque[_Handed] = deque()

    def add(self, batch: PreparedBatch, collect: Collect) -> None:
        """Settle ``batch`` (handed over; ``collect`` gives its outcomes) after those before it."""
        before = self._handed[-1].task if self._handed else None
        written = asyncio.Event()
        task = asyncio.create_task(
            self._settle(before, batch, collect, written), name=f"settle {self._entity}"
        )
        self._handed.append(_Handed(batch.keys, task, written))

    def check(self) -> None:
        """Raise what a batch that already failed to settle raised (before more is handed over)."""
        for handed in self._handed:
            if handed.task.done() and not handed.task.cancelled():
                error = handed.task.exception()
                if error is not None:
                    raise error

    async def written(self) -> None:
        """Wait until the newest batch's writes are done (for a target that writes at once)."""
        if self._handed:
            await self._handed[-1].written.wait()

    async def settle_to(self, most: int) -> None:
        """Wait until at most ``most`` batches are unsettled; raise a failed one's error."""
        while len(self._handed) > most:
            await self._handed.popleft().task

    async def wait_for(self, keys: Iterable[str]) -> None:
        """Wait until no unsettled batch holds one of ``keys``: its plan needs their state."""
        wanted = set(keys)
        last = -1
        for n, handed in enumerate(self._handed):
            if not handed.keys.isdisjoint(wanted):
                last = n
        if last >= 0:
            await self.settle_to(len(self._handed) - last - 1)

    async def abandon(self, cause: BaseException) -> None:
        """After ``cause`` stopped the engine: let every handed batch settle as far as it can."""
        while self._handed:
            handed = self._handed.popleft()
            try:
                await handed.task
            except Exception as exc:
                if exc is not cause:
                    log.error("%s: a handed-over batch could not be settled: %s", self._entity, exc)

    async def _settle(
        self,
        before: asyncio.Task[None] | None,
        batch: PreparedBatch,
        collect: Collect,
        written: asyncio.Event,
    ) -> None:
        try:
            if before is not None:
                try:
                    await before
                except BaseException:
                    await self._land(collect)
                    raise
            outcomes = await collect()
        finally:
            written.set()
        await self._processor.settle(batch, outcomes)

    async def _land(self, collect: Collect) -> None:
        try:
            await collect()
        except Exception:
            log.debug("a batch after a failed one did not land either", exc_info=True)
        log.warning(
            "%s: a batch written after a failed one is left uncommitted (the next pass "
            "sends it again)",
            self._entity,
        )


__all__ = ["SettleLine"]
