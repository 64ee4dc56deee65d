"""When each entity of a flow is due for a pass, on its own schedule.

An entity's schedule is its own ``schedule``, else the flow's ``defaults.schedule``:

* ``interval``: due ``seconds`` after its last pass *started* (a long pass does not push the
  next one back); change signals do not wake it early.
* ``continuous``: due as soon as a change signal arrives, else ``poll_seconds`` after its last
  pass ended.

An entity never run is due at once. A pass that fails with a transient error holds the entities
it ran back for an exponential backoff (at least what the system asked for); then they are due
again, together, whatever their schedule, and signals do not cut the backoff short.

:class:`Timetable` is this bookkeeping alone: it reads the time from an injected clock and does
no I/O, so :meth:`tandem.pipeline.engine.Engine.run` only waits, syncs and reports back to it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tandem.config import ContinuousSchedule, EntitySpec, FlowSpec, Schedule

MAX_BACKOFF_SECONDS = 300.0
"""The longest pause after failed passes, whatever the system asked for."""


def effective_schedule(flow: FlowSpec, spec: EntitySpec) -> Schedule:
    """The entity's own schedule if its spec sets one, else the flow's default schedule."""
    return spec.schedule if "schedule" in spec.model_fields_set else flow.defaults.schedule


def backoff(failures: int, retry_after: float | None) -> float:
    """Seconds to wait after ``failures`` failed passes in a row.

    Doubles with each failure from 2 s, at least ``retry_after``, at most
    :data:`MAX_BACKOFF_SECONDS`.
    """
    return min(MAX_BACKOFF_SECONDS, max(retry_after or 0.0, 2.0 ** min(failures, 16)))


@dataclass
class _Slot:
    """One entity's schedule and the times of its last pass (clock readings)."""

    schedule: Schedule
    started: float | None = None
    ended: float | None = None
    signalled: bool = False
    held_until: float | None = None
    failures: int = 0

    def due_at(self) -> float:
        """The clock reading from which the entity is due (``-inf``: due now)."""
        if self.held_until is not None:
            return self.held_until
        if self.started is None:
            return -math.inf
        if isinstance(self.schedule, ContinuousSchedule):
            if self.signalled or self.ended is None:
                return -math.inf
            return self.ended + self.schedule.poll_seconds
        return self.started + self.schedule.seconds


class Timetable:
    """Which entities are due for a pass, and when the next one will be.

    Args:
        schedules: each entity's schedule, by name, in the flow's dependency order.
        clock: seconds on a monotonic clock (:func:`time.monotonic`; tests inject their own).
    """

    def __init__(
        self, schedules: Mapping[str, Schedule], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._slots = {name: _Slot(schedule) for name, schedule in schedules.items()}
        self._clock = clock

    @classmethod
    def of(cls, flow: FlowSpec, *, clock: Callable[[], float] = time.monotonic) -> Timetable:
        """The timetable of every entity of ``flow``, with its effective schedule."""
        schedules = {spec.name: effective_schedule(flow, spec) for spec in flow.ordered_entities()}
        return cls(schedules, clock=clock)

    def due(self) -> list[str]:
        """The entities due now, in the flow's order."""
        now = self._clock()
        return [name for name, slot in self._slots.items() if slot.due_at() <= now]

    def until_due(self) -> float:
        """Seconds until the next entity is due, not counting signals (0 if one is due now)."""
        earliest = min((slot.due_at() for slot in self._slots.values()), default=math.inf)
        return max(0.0, earliest - self._clock())

    def listens(self) -> bool:
        """Whether a change signal would make an entity due (a continuous one not held back)."""
        return any(
            isinstance(slot.schedule, ContinuousSchedule) and slot.held_until is None
            for slot in self._slots.values()
        )

    def signal(self) -> None:
        """A system signalled a change: every continuous entity is due."""
        for slot in self._slots.values():
            if isinstance(slot.schedule, ContinuousSchedule):
                slot.signalled = True

    def started(self, names: Iterable[str]) -> None:
        """A pass over ``names`` starts now (signals so far are answered by it)."""
        now = self._clock()
        for name in names:
            slot = self._slots[name]
            slot.started, slot.signalled, slot.held_until = now, False, None

    def finished(self, names: Iterable[str]) -> None:
        """The pass over ``names`` ended well now."""
        now = self._clock()
        for name in names:
            slot = self._slots[name]
            slot.ended, slot.failures = now, 0

    def failed(self, names: Iterable[str], retry_after: float | None = None) -> float:
        """The pass over ``names`` failed transiently: hold them back, together.

        Returns:
            The backoff in seconds, from the longest run of failures among ``names``.
        """
        slots = [self._slots[name] for name in names]
        for slot in slots:
            slot.failures += 1
        delay = backoff(max((slot.failures for slot in slots), default=1), retry_after)
        until = self._clock() + delay
        for slot in slots:
            slot.held_until = until
        return delay


__all__ = ["MAX_BACKOFF_SECONDS", "Timetable", "backoff", "effective_schedule"]
