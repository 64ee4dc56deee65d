"""A system's own clock, for decisions that compare an instant with the system's change stamps.

A system stamps its changes by its own clock (a database server's, an org's); the agent's
clock may run ahead or behind it. Whether a read still has to re-read its overlap window
is decided by comparing the time of the read with the stamps it read, so that time must be
told in the system's own terms (field lesson 10: skew between systems is measured, not
assumed away).

A connector that can tell its system's time implements :class:`SourceClock`. It learns the
difference to the agent's clock as a *lower bound* (:class:`ClockOffset`): the system's time
read in an answer was taken before the answer arrived, so ``system time - arrival time``
never exceeds the true offset. An instant told too early only makes the engine re-read a
window it could have skipped; one told too late could skip a window it must re-read.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


@runtime_checkable
class SourceClock(Protocol):
    """Optional: the system's own clock, told without a round trip where it can be."""

    async def source_time(self) -> datetime | None:
        """The system's time now (never later than it is), or ``None`` when unknown."""


class ClockOffset:
    """The offset of a system's clock from the agent's, learned from the system's answers.

    Args:
        max_age: seconds an observation is trusted; :meth:`stale` tells when to take a new one.
    """

    def __init__(self, max_age: float = 60.0) -> None:
        self.max_age = max_age
        self._offset: timedelta | None = None
        self._seen = 0.0

    def note(self, system_time: datetime, received: datetime | None = None) -> None:
        """Take ``system_time``, read from an answer that arrived at ``received`` (agent time).

        The latest observation stands, even when an earlier one was closer (a time told to
        the second comes up to a second short): only the latest follows a clock set back,
        and a bound that is too early costs a re-read, one that is too late a lost change.
        """
        if system_time.tzinfo is None:
            system_time = system_time.replace(tzinfo=UTC)
        arrived = received if received is not None else datetime.now(UTC)
        self._offset = system_time - arrived
        self._seen = time.monotonic()

    @property
    def offset(self) -> timedelta | None:
        """System time minus agent time (a lower bound), ``None`` until observed."""
        return self._offset

    def stale(self) -> bool:
        """No observation yet, or the last one is older than ``max_age``."""
        return self._offset is None or time.monotonic() - self._seen > self.max_age

    def now(self) -> datetime | None:
        """The system's time now by the last observation, ``None`` until observed."""
        if self._offset is None:
            return None
        return datetime.now(UTC) + self._offset


__all__ = ["ClockOffset", "SourceClock"]
