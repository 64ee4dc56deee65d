"""The engine: capture -> plan -> deliver -> commit for every entity of a flow.

One pass walks the entities in dependency order; for each system an entity is read from,
it streams the changes after the stored cursor (minus an overlap window, so late commits
and ties are never skipped) in batches through :class:`BatchProcessor`. The work queue
(dead-letter retries, conflict resolutions, reconcile heals) is drained first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from tandem.config import FlowSpec, Side
from tandem.connectors.base import (
    Advisor,
    Auditor,
    EntityBinding,
    EntitySchema,
    Learner,
    SchemaCache,
    Submitter,
)
from tandem.connectors.http import stopping, waits_cut_short_by
from tandem.connectors.quota import BUDGET_CODES
from tandem.errors import (
    BindingError,
    ConfigError,
    Fatal,
    MappingError,
    Retriable,
    Stopping,
    StoreBusy,
    StoreError,
)
from tandem.mapping import Mapper
from tandem.pipeline.batch import BatchProcessor
from tandem.pipeline.claim import FlowClaim, retry_seconds
from tandem.pipeline.contested import readable
from tandem.pipeline.context import EntityContext, Systems, build_rules
from tandem.pipeline.drain import WorkDrain
from tandem.pipeline.drift import compare, restore, summarise
from tandem.pipeline.events import EventBus, PassDone
from tandem.pipeline.matching import MatchIndex
from tandem.pipeline.parked import release_parked
from tandem.pipeline.plan import other
from tandem.pipeline.problems import Problem, locate, of_error, unfit
from tandem.pipeline.prune import PRUNE_EVERY, prune_while_running
from tandem.pipeline.rebatch import fresh_batches
from tandem.pipeline.refs import StoreRefResolver
from tandem.pipeline.report import PassReport
from tandem.pipeline.schedule import MAX_BACKOFF_SECONDS, Timetable
from tandem.pipeline.settling import SettleLine
from tandem.pipeline.windows import ReadWindows
from tandem.store import StateFile, StateStore

log = logging.getLogger(__name__)

SETTLING = 1
"""Handed-over batches that may be unsettled while the next is read and planned."""

SIDES: tuple[Side, Side] = ("erp", "crm")


class Engine:
    """Keeps the two systems of one flow consistent."""

    def __init__(
        self,
        flow: FlowSpec,
        store: StateStore,
        systems: Systems,
        *,
        mapper: Mapper | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.flow = flow
        self.store = store
        self.systems = systems
        self.mapper = mapper or Mapper(flow)
        self.bus = bus or EventBus()
        self.windows = ReadWindows(flow.name, store, systems)
        """Where each read starts; which sources need no read."""
        self._learned: dict[Side, dict[str, float]] = {}
        """Per side: what the connector had learned when it was last kept in the store."""
        self.lease = FlowClaim(store, flow.name)
        """The claim that makes this engine the only one writing for its flow."""
        self.drain = WorkDrain(flow.name, store, systems, self.context)
        """The work queue's drain, run at the start of each pass."""
        self.drift: list[str] = []
        """Schema changes found by :meth:`prepare` since the previous run."""
        self.problems: list[Problem] = []
        """Mapping problems found by the last :meth:`prepare` (each names file, line, field)."""
        self.warnings: list[Problem] = []
        """What the last :meth:`prepare` found worth knowing that does not stop the flow: a
        field whose two native fields hold different decimal places (placed like problems)."""
        self.contexts: list[EntityContext] = [
            EntityContext(
                spec=spec,
                rules=build_rules(spec, self.mapper),
                bindings={side: spec.binding(side) for side in SIDES},
                schemas={},
            )
            for spec in flow.ordered_entities()
        ]

    def context(self, entity: str) -> EntityContext:
        """The context of one entity."""
        for ctx in self.contexts:
            if ctx.name == entity:
                return ctx
        raise ConfigError(f"no entity named {entity!r} in flow {self.flow.name!r}")

    def check_entities(self, entities: Sequence[str] | None) -> None:
        """Raise :class:`ConfigError` naming each of ``entities`` the flow does not have."""
        if entities is None:
            return
        known = {ctx.name for ctx in self.contexts}
        unknown = [name for name in entities if name not in known]
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            raise ConfigError(
                f"flow {self.flow.name!r} has no entity {names}; "
                f"its entities: {', '.join(sorted(known))}"
            )

    @property
    def holder(self) -> str:
        """Who this engine is, in the flow's lease."""
        return self.lease.holder

    @property
    def lease_name(self) -> str:
        """The lease that makes this engine the only one writing for its flow."""
        return self.lease.name

    def claim(self) -> None:
        """Become the one engine that syncs this flow (see :meth:`FlowClaim.claim`).

        Raises:
            StoreError: another engine holds the flow; it names who and until when.
        """
        self.lease.claim()

    def release(self) -> None:
        """Give the flow up, if this engine claimed it (see :meth:`FlowClaim.release`)."""
        self.lease.release()

    async def prepare(
        self, *, fresh: bool = False, keep: bool = True, audit: bool = False
    ) -> list[Problem]:
        """Describe every bound object in both systems and check the mapping against them.

        A connector that can take a saved description (:class:`SchemaCache`) gets the one the
        store holds while it is younger than ``describe_cache_seconds``, unless ``fresh``;
        a connector that learns (:class:`Learner`) is told what earlier runs learned. Each
        new description is kept in the store for the next run's drift report, unless not
        ``keep`` (a dry run: the drift it finds is still the next sync's to report). With
        ``audit`` (``tandem check``) a connector that audits its bindings (:class:`Auditor`)
        adds its findings: an error as a problem, else a warning.

        Returns:
            The problems, each placed at its setting in the config file; empty when the flow
            can run.
        """
        problems: list[Problem] = []
        self.problems = problems
        self.warnings = []
        self.drift = []
        seen: dict[tuple[Side, str], EntitySchema] = {}
        for side in SIDES:
            self._recall(side)
        for ctx in self.contexts:
            for side in SIDES:
                binding = ctx.bindings[side]
                schema = seen.get((side, binding.source))
                if schema is None:
                    try:
                        schema = await self._describe(side, binding, fresh=fresh, keep=keep)
                    except BindingError as exc:  # named with the rest: one check, every fault
                        problems.extend(of_error(fault) for fault in exc.each())
                        continue
                    seen[(side, binding.source)] = schema
                elif isinstance(connector := self.systems.of(side), SchemaCache):
                    connector.prime_schema(binding, schema)
                ctx.schemas[side] = schema
                writes = ctx.reads(other(side))
                at = ("entities", ctx.name)
                for found in self.mapper.binding_problems(ctx.spec, side, schema, writes=writes):
                    problems.append(locate(self.flow, (*at, *found.path), found.message))
                if audit and isinstance(connector := self.systems.of(side), Auditor):
                    for finding in await connector.audit(binding):
                        placed = locate(self.flow, (*at, side, finding.setting), finding.message)
                        (problems if finding.error else self.warnings).append(placed)
                if writes and not binding.external_id:
                    message = (
                        f"Tandem writes {binding.source} but no external_id field is set:"
                        " writes could not be idempotent"
                    )
                    problems.append(locate(self.flow, (*at, side, "external_id"), message))
            for found in self.mapper.binding_warnings(ctx.spec):
                place = ("entities", ctx.name, *found.path)
                self.warnings.append(locate(self.flow, place, found.message))
        for side in SIDES:
            connector = self.systems.of(side)
            if isinstance(connector, Advisor):
                for message in await connector.advice():
                    self.warnings.append(locate(self.flow, ("connections", side), message))
        return problems

    async def _describe(
        self, side: Side, binding: EntityBinding, *, fresh: bool, keep: bool = True
    ) -> EntitySchema:
        """A saved description young enough to trust, else a new describe (drift noted; the
        description kept when ``keep``)."""
        connector = self.systems.of(side)
        max_age = self.flow.describe_cache_seconds
        if not fresh and max_age > 0 and isinstance(connector, SchemaCache):
            saved = self.store.dated_schema_snapshot(self.flow.name, side, binding.source)
            if saved is not None:
                summary, captured = saved
                age = (datetime.now(UTC) - captured).total_seconds()
                schema = restore(binding.source, summary) if 0 <= age < max_age else None
                if schema is not None:
                    connector.prime_schema(binding, schema)
                    log.debug(
                        "%s %s: description saved %.0f s ago reused", side, binding.source, age
                    )
                    return schema
        if fresh and isinstance(connector, SchemaCache):
            connector.forget_schema(binding)  # a run's describe again must reach the system
        try:
            schema = await connector.describe(binding)
        except ConfigError as exc:  # the connector names the setting; the flow knows its line
            raise self.flow.place(exc, side) from exc
        self._note_drift(side, binding.source, schema, keep=keep)
        return schema

    def _recall(self, side: Side) -> None:
        connector = self.systems.of(side)
        if isinstance(connector, Learner):
            saved = self.store.memo(self.flow.name, f"{side}.learned")
            if isinstance(saved, dict):
                known = {k: float(v) for k, v in saved.items() if _is_number(v)}
                connector.recall(known)
                self._learned[side] = known

    def _remember(self) -> None:
        """Keep what the connectors learned during the pass for the next process."""
        for side in SIDES:
            connector = self.systems.of(side)
            if isinstance(connector, Learner):
                learned = connector.learned()
                if learned and learned != self._learned.get(side):
                    self.store.save_memo(self.flow.name, f"{side}.learned", learned)
                    self._learned[side] = learned

    def _note_drift(
        self, side: Side, source: str, schema: EntitySchema, *, keep: bool = True
    ) -> None:
        """Compare ``source``'s description with the previous run's; keep this one (and when)
        if ``keep``."""
        current = summarise(schema)
        previous = self.store.schema_snapshot(self.flow.name, side, source)
        if previous is not None:
            mapped = {
                name
                for ctx in self.contexts
                if ctx.bindings[side].source == source
                for name in ctx.bindings[side].fields
            }
            for change in compare(previous, current, mapped):
                message = f"{side} {source}: {change}"
                log.warning("schema drift: %s", message)
                self.drift.append(message)
        if keep:
            self.store.save_schema_snapshot(self.flow.name, side, source, current)

    async def sync(
        self, *, dry_run: bool = False, entities: Sequence[str] | None = None
    ) -> PassReport:
        """One pass over the flow (or over ``entities``).

        While it runs, the claim on the flow is renewed on a task of its own: one step (a Bulk
        job's poll, a wait a system asked for) may last longer than the claim. Should a
        renewal find the flow taken by another engine, the pass is cancelled (what it handed
        over settles as far as it can, nothing else is committed) and ends with that error.

        Raises:
            ConfigError: an entity of ``entities`` is not in the flow.
            StoreError: another engine holds the flow (or took it over during the pass).
        """
        self.check_entities(entities)
        if not self.lease.held:  # a dry run, a check: no claim to keep
            return await self._sync(dry_run=dry_run, entities=entities)
        return await self.lease.keep_during(
            asyncio.ensure_future(self._sync(dry_run=dry_run, entities=entities))
        )

    async def _sync(self, *, dry_run: bool, entities: Sequence[str] | None) -> PassReport:
        """:meth:`sync`'s pass itself."""
        report = PassReport()
        processor = BatchProcessor(
            flow=self.flow.name,
            store=self.store,
            systems=self.systems,
            mapper=self.mapper,
            bus=self.bus,
            report=report,
            dry_run=dry_run,
        )
        if not dry_run:
            for ctx in self.contexts:  # links of deletes an earlier release kept (once)
                if ctx.rules.delete == "delete":
                    self.store.repair_legacy_links(self.flow.name, ctx.name)
            release_parked(self.store, self.flow.name, self.contexts)
        await self.drain.drain(processor)
        wanted = [c for c in self.contexts if entities is None or c.name in entities]
        try:
            quiet = set() if dry_run else await self.windows.quiet(wanted)
            for ctx in wanted:
                for side in SIDES:
                    if ctx.reads(side) and (ctx.name, side) not in quiet:
                        await self._capture(processor, ctx, side)
                        self.windows.read((ctx.name, side))
            # records parked for a reference that this pass linked follow it in this pass
            if not dry_run and release_parked(self.store, self.flow.name, self.contexts):
                await self.drain.drain(processor)
        except Fatal as exc:
            # A system refused work as a whole (say, a Bulk job naming a field that is gone):
            # the next start must not trust a saved description. Not for a spent API budget,
            # which says nothing of the schemas: describing again would spend calls it lacks.
            if exc.code not in BUDGET_CODES:
                self.store.expire_schema_snapshots(self.flow.name)
            raise
        finally:
            if not dry_run:
                try:
                    self._remember()
                except StoreError:  # never hides the pass's own outcome
                    log.warning("could not keep what the connectors learned", exc_info=True)
        await self.bus.publish(PassDone(report.as_dict()["counts"]))
        return report

    async def run(
        self,
        stop: asyncio.Event,
        *,
        on_pass: Callable[[PassReport], None] | None = None,
        on_error: Callable[[Exception], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Sync each entity on its own schedule until ``stop`` is set.

        Whenever entities are due (see :mod:`tandem.pipeline.schedule`), one pass runs over
        them, in dependency order. A transient failure, or a call refused for the daily API
        budget (the quota governor keeping its reserve, or the org's allocation spent), calls
        ``on_error`` and holds those entities back for a backoff; a pass that ends well is
        handed to ``on_pass``. Every ``describe_cache_seconds`` (unless 0) the systems are
        described again before a pass: schema drift is logged, and a mapping that no longer
        fits stops the run; a system down then holds the pass back like any outage. A state
        store that stayed locked past its wait (:class:`StoreBusy`: another process held a
        lock) holds the pass back the same way.

        Once ``stop`` is set, a wait between tries (a ``Retry-After`` of up to two minutes) is
        cut short: the pass is abandoned there, having committed only what the targets had
        confirmed, and the run ends.

        Raises:
            ConfigError: a describe found that the mapping no longer fits a system's schema
                (each problem names file, line and field).
            StoreError: the state store's file was deleted or replaced under the run.
        """
        timetable = Timetable.of(self.flow, clock=clock)
        state = StateFile(self.flow.state_url())
        for warning in self.warnings:
            log.warning("flow %s: %s", self.flow.name, warning)
        every = self.flow.describe_cache_seconds
        described = prune_at = clock()
        while not stop.is_set():
            due = timetable.due()
            if not due:
                await self._wait(timetable, stop)
                continue
            state.check()
            timetable.started(due)
            try:
                # Inside the pass's own handling: a system that is down when the describe
                # comes due holds the pass back like any other outage, and is described again
                # before the next pass that reaches it.
                with waits_cut_short_by(stop):
                    if every > 0 and clock() - described >= every:
                        await self._describe_again()
                        described = clock()
                    report = await self.sync(entities=due)
            except Retriable as exc:
                if stop.is_set():
                    # a wait between tries cut short (or a failure while stopping): what was
                    # not committed is read again at the next start
                    log.warning("pass over %s abandoned to stop: %s", ", ".join(due), exc)
                    continue
                wait = timetable.failed(due, exc.retry_after)
                log.warning(
                    "pass over %s interrupted, retrying in %.0f s: %s", ", ".join(due), wait, exc
                )
                if on_error is not None:
                    on_error(exc)
                continue
            except Fatal as exc:
                if exc.code not in BUDGET_CODES:
                    raise
                # The day's calls are spent, or all but the share left to others: nothing is
                # written until the rolling window frees calls; then the entities go on from
                # their cursors, which moved only with what was committed.
                wait = timetable.failed(due, MAX_BACKOFF_SECONDS)
                log.warning("%s; pausing %s for %.0f s", exc, ", ".join(due), wait)
                if on_error is not None:
                    on_error(exc)
                continue
            except StoreBusy as exc:
                # Another process held the state store locked past the store's wait: the
                # transaction that met it was rolled back whole; the pass goes again from the
                # cursors, which moved only with what was committed.
                wait = timetable.failed(due, None)
                log.warning(
                    "pass over %s held back, retrying in %.0f s: %s", ", ".join(due), wait, exc
                )
                if on_error is not None:
                    on_error(exc)
                continue
            timetable.finished(due)
            if self.flow.prune_capture_days is not None and clock() >= prune_at:
                await prune_while_running(self.flow, self.store, self.systems.erp)
                prune_at = clock() + PRUNE_EVERY
            if on_pass is not None:
                on_pass(report)

    async def _describe_again(self) -> None:
        """Describe every object again during a run: log drift, stop on a mapping that broke."""
        problems = await self.prepare(fresh=True)
        for change in self.drift:
            log.warning("schema drift in flow %s: %s", self.flow.name, change)
        if problems:
            raise unfit(problems, "no longer fits")

    async def _wait(self, timetable: Timetable, stop: asyncio.Event) -> None:
        """Wait until an entity is due, a change signal wakes a continuous one, or ``stop``.

        The systems are listened to only while a signal could wake an entity, so an interval
        entity is never woken early. A system whose wait fails is not listened to again
        during this wait: the schedules' timers still run. The claim on the flow is renewed
        while waiting too, so an agent idle longer than the claim lasts (an interval of some
        minutes) is not taken over by a second agent started meanwhile.

        Raises:
            StoreError: another engine took the flow over.
        """
        listen = True
        while not stop.is_set():
            seconds = timetable.until_due()
            if seconds <= 0:
                return
            renew = self.lease.renew_in()
            if renew is not None:
                if renew <= 0:
                    if await self.lease.renew():
                        continue
                    renew = retry_seconds()
                seconds = min(seconds, renew)
            signals = []
            if listen and timetable.listens():
                signals = [
                    asyncio.ensure_future(self.systems.of(side).wait_for_change(seconds))
                    for side in SIDES
                ]
            waiters = [asyncio.ensure_future(stop.wait()), *signals]
            try:
                done, _ = await asyncio.wait(
                    waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
            for waiter in signals:
                if waiter not in done or waiter.cancelled():
                    continue
                error = waiter.exception()
                if error is not None:
                    log.warning("waiting for change signals failed; polling instead: %s", error)
                    listen = False
                elif waiter.result():
                    timetable.signal()

    async def _capture(self, processor: BatchProcessor, ctx: EntityContext, side: Side) -> None:
        spec = ctx.spec
        since = self.store.cursor(self.flow.name, ctx.name, side)
        initial = since is None
        start = self.windows.start(ctx, side, since)
        # An initial load runs in batches of initial_batch_size, but starts with one of
        # batch_size: the target gets its first work while the rest is still being read.
        size = max(spec.batch_size, spec.initial_batch_size) if initial else spec.batch_size
        matches = await self._match_index(ctx, side) if initial and spec.match else None
        binding = ctx.bindings[side]
        fetched_at: datetime | None = None
        read_at = await self.windows.source_time(side)
        # Batch k+1 is read, mapped and planned while batch k settles on a task of its own
        # (its outcomes asked for, its state committed on a worker thread), then handed over.
        # A batch sharing a record with an unsettled one waits for it, so every plan sees the
        # state its predecessor committed; commits stay in order (see SettleLine). A target
        # that queues work (a Bulk job) may hold k and k+1 at once; any other starts writing
        # k+1 only once k's write is done, so two writes of one table never run side by side.
        line = SettleLine(processor, ctx.name)
        queues = isinstance(self.systems.of(other(side)), Submitter)
        try:
            stream = self.systems.of(side).read_changes(binding, start, size)
            async for batch in fresh_batches(stream, since, size, spec.batch_size):
                if stopping():
                    # Told to stop: no new batch is handed over. Those handed over settle,
                    # the rest is read again at the next start (the cursor moved only with
                    # what was committed).
                    await line.settle_to(0)
                    raise Stopping(
                        f"{ctx.name} from the {side.upper()}: no further batch read, the "
                        "agent is stopping",
                        system=side,
                        operation="capture",
                    )
                fetched_at = read_at
                if not batch:
                    continue
                await line.wait_for(change.key for change in batch)
                cursor = max(change.cursor for change in batch)
                prepared = await processor.prepare(ctx, side, batch, cursor=cursor, matches=matches)
                if prepared is None:
                    continue
                if not queues:
                    await line.written()
                line.check()
                line.add(prepared, await processor.submit(prepared))
                del batch, prepared  # held by the settling task alone from here
                # At most one batch settles while the next one is read and planned.
                await line.settle_to(SETTLING)
            await line.settle_to(0)
        except BaseException as exc:
            await line.abandon(exc)
            raise
        if fetched_at is not None and not processor.dry_run:
            self.windows.fetched(ctx, side, fetched_at)

    async def _match_index(self, ctx: EntityContext, source: Side) -> MatchIndex | None:
        """Index the target's unlinked records by the flow's match keys."""
        target = other(source)
        index = MatchIndex(ctx.spec.match)
        refs = StoreRefResolver(self.store)
        binding = ctx.bindings[target]
        async for batch in self.systems.of(target).read_all(binding, 2000):
            linked = self.store.partners(ctx.name, target, [c.key for c in batch])
            refs.prefetch_rows(ctx.spec, target, (c.fields for c in batch))
            for change in batch:
                if change.key in linked:
                    continue
                try:
                    values = self.mapper.to_canonical(
                        ctx.spec, target, change.fields, change.key, refs
                    )
                except MappingError as exc:
                    # some other field refused (a malformed phone): its match keys still
                    # name the record, which would otherwise be created a second time
                    read, _ = readable(
                        self.mapper, refs, ctx.spec, target, change.fields, change.key, exc
                    )
                    if read is None:
                        continue
                    values = read
                index.add(values, change.key)
        return index if len(index) else None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


__all__ = ["Engine"]
