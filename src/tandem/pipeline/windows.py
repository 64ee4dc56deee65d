"""Where each read of a source starts, and when a read can be spared.

A read starts at the stored cursor minus the entity's overlap window, so late commits and
ties are never skipped; once the last full read lies far enough past the cursor, no change
still in flight can land behind it and the read starts at the cursor itself. A source that
can say cheaply that nothing changed (:class:`ChangeProbe`) is not read at all while its
fingerprint is unchanged and trusted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from tandem.config import Side
from tandem.connectors.base import ChangeProbe, Cursor
from tandem.connectors.clock import SourceClock
from tandem.pipeline.context import EntityContext, Systems
from tandem.store import StateStore

PROBE_TRUST_SECONDS = 60.0
"""An unchanged probe spares reads for at most this long; then the source is read anyway."""

SIDES: tuple[Side, Side] = ("erp", "crm")

Slot = tuple[str, Side]
"""An entity read from one side."""


class ReadWindows:
    """What one engine knows of its reads: when each last finished, what each source's
    fingerprint was then."""

    def __init__(self, flow: str, store: StateStore, systems: Systems) -> None:
        self.flow = flow
        self.store = store
        self.systems = systems
        self._fingerprints: dict[Slot, tuple[str, float, datetime | None]] = {}
        """Per slot: the source's change fingerprint at its last read, when (the agent's
        monotonic clock) and when it was probed by the source's clock."""
        self._fetched: dict[Slot, datetime] = {}
        """Per slot: when the last batch of the last full read was fetched."""
        self._fetched_saved: dict[Slot, datetime] = {}
        """Per slot: the fetch time last kept in the store by this process."""
        self._fetched_asked: set[Slot] = set()
        """Per slot: the store was asked when an earlier process last read it."""
        self._probed: dict[Slot, tuple[str, datetime | None]] = {}
        """Per slot: the fingerprint probed before the read now under way, and when by the
        source's clock."""

    async def quiet(self, contexts: Sequence[EntityContext]) -> set[Slot]:
        """Entities whose source can say cheaply that nothing changed since the last read."""
        quiet: set[Slot] = set()
        for side in SIDES:
            connector = self.systems.of(side)
            if not isinstance(connector, ChangeProbe):
                continue
            windows: list[tuple[EntityContext, Cursor]] = []
            for ctx in contexts:
                cursor = self.store.cursor(self.flow, ctx.name, side)
                if ctx.reads(side) and cursor is not None:
                    windows.append((ctx, cursor))
            if not windows:
                continue
            probed_at = await self.source_time(side)
            found = await connector.fingerprints(
                [
                    (c.bindings[side], at.minus(c.spec.overlap_seconds).modified_at)
                    for c, at in windows
                ]
            )
            for ctx, cursor in windows:
                slot = (ctx.name, side)
                fingerprint = found.get(ctx.bindings[side].name)
                if fingerprint is None:
                    continue
                if self._trusted(slot, fingerprint, cursor, ctx.spec.overlap_seconds):
                    quiet.add(slot)
                else:
                    self._probed[slot] = (fingerprint, probed_at)
        return quiet

    def read(self, slot: Slot) -> None:
        """A read of ``slot`` ended: the fingerprint probed before it is now the one read."""
        probed = self._probed.pop(slot, None)
        if probed is not None:
            fingerprint, probed_at = probed
            self._fingerprints[slot] = (fingerprint, time.monotonic(), probed_at)

    def _trusted(self, slot: Slot, fingerprint: str, cursor: Cursor, overlap: float) -> bool:
        """Whether an unchanged fingerprint may spare the read of ``slot``.

        A fingerprint (a count and the newest stamp) misses a late commit that edits a record
        already counted, when its stamp falls behind the newest. A commit still in flight when
        the fingerprint was probed is stamped at most the overlap before that instant, so once
        the newest change read (the cursor) lies further back than that, any late commit
        raises the newest stamp and moves the fingerprint. Until then the source is read.
        """
        known = self._fingerprints.get(slot)
        if known is None or known[0] != fingerprint:
            return False
        _, read_at, probed_at = known
        if time.monotonic() - read_at >= PROBE_TRUST_SECONDS or probed_at is None:
            return False
        return cursor.modified_at < probed_at - timedelta(seconds=overlap)

    async def source_time(self, side: Side) -> datetime | None:
        """The time by the source's own clock, taken before a read of it.

        The read's changes carry the source's stamps, so whether a later read may skip the
        overlap is decided in the source's time (an agent clock ahead of it would skip a
        window where late commits still land). ``None`` when the source cannot tell: the
        window is then re-read. A source with no clock of its own (the memory connectors
        of the tests) stamps by the agent's.
        """
        connector = self.systems.of(side)
        if isinstance(connector, SourceClock):
            return await connector.source_time()
        return datetime.now(UTC)

    def start(self, ctx: EntityContext, side: Side, since: Cursor | None) -> Cursor | None:
        """Where to read from: the cursor minus the overlap window, or the cursor itself.

        The overlap re-reads changes that committed late with a timestamp behind the cursor.
        Such a change was in flight when the cursor's position was read; once that read lies
        more than twice the overlap (once for in-flight time, once for clock skew) after the
        cursor's instant, no change still in flight then can land behind the cursor, and the
        next read starts at the cursor: an idle source is not re-read every pass.
        """
        if since is None:
            return None
        overlap = ctx.spec.overlap_seconds
        fetched = self._fetched.get((ctx.name, side)) or self._fetched_before(ctx.name, side)
        if fetched is not None and fetched - timedelta(seconds=2 * overlap) > since.modified_at:
            return since
        return since.minus(overlap)

    def fetched(self, ctx: EntityContext, side: Side, fetched_at: datetime) -> None:
        """A full read of ``ctx`` on ``side``, begun at ``fetched_at`` (source time), ended.

        Kept for the next process at most once per overlap window: an idle source read every
        second costs no store write each time, and a kept time up to one overlap old only
        makes a new process re-read the window, never skip it wrongly.
        """
        slot = (ctx.name, side)
        self._fetched[slot] = fetched_at
        kept = self._fetched_saved.get(slot)
        if kept is None or fetched_at - kept >= timedelta(seconds=ctx.spec.overlap_seconds):
            self.store.save_memo(self.flow, f"{ctx.name}.{side}.fetched_at", fetched_at.isoformat())
            self._fetched_saved[slot] = fetched_at

    def _fetched_before(self, entity: str, side: Side) -> datetime | None:
        """When an earlier process last finished a read of ``entity`` on ``side``, if known.

        Kept in the store so a new process need not re-read an overlap window that was long
        past when the previous one read it (after an initial load, every seeded change shares
        one timestamp: the whole seed would be read again).
        """
        if (entity, side) in self._fetched_asked:
            return None
        self._fetched_asked.add((entity, side))
        saved = self.store.memo(self.flow, f"{entity}.{side}.fetched_at")
        if not isinstance(saved, str):
            return None
        try:
            when = datetime.fromisoformat(saved)
        except ValueError:
            return None
        if when.tzinfo is None:
            return None
        self._fetched[(entity, side)] = when
        return when


__all__ = ["PROBE_TRUST_SECONDS", "ReadWindows"]
