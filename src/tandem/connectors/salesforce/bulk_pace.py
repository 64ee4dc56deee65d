"""How long to wait for a Bulk API 2.0 ingest job: the org's pace, learned job by job.

Every call counts against the org's daily API allocation. A job is looked at when the org's
time per row (learned from the jobs this process, or an earlier one, saw end) says it is done,
with a margin that is itself learned: a job found done in time takes back part of it, a job
asked for too early gives it back twice over.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from tandem.connectors.http import Sleep, wait_unless_stopping
from tandem.connectors.salesforce.settings import SalesforceSettings
from tandem.connectors.salesforce.values import parse_datetime
from tandem.errors import Stopping

_MAX_POLL_INTERVAL = 10.0
_MAX_PROJECTED_WAIT = 60.0
MARGIN = 1.15  # a projected wait is stretched a little, so one poll usually finds the job done
# Results asked for too early cost two calls (the refusal and a poll), not one: the first wait
# is longer. The margin is then learned: each job found done at the first ask takes back part
# of it (an org that keeps its pace is not waited on for a quarter of every job), each
# refusal gives it back twice over.
_RESULTS_MARGIN = 1.25
_RESULTS_MARGIN_FLOOR = 1.1
_RESULTS_MARGIN_CEILING = 1.6
TIGHTEN = 0.7  # the share of the margin above 1 kept after a job found done in time
# A rate learned from another operation (an update job timed by the upserts before it) is a
# rougher guess: an update may take longer a row. A poll that comes a little late costs a
# fraction of the job's time; one that comes early costs a call.
_BORROWED_MARGIN = 1.6


class JobClock:
    """Time spent on one job since its upload was closed.

    The sleeps asked for are counted as well as the wall clock (the longer counts), so a fake
    sleep in the tests still advances it.

    Attributes:
        closed_at: the job's ``systemModstamp`` when it was closed (the org's clock), if known.
    """

    def __init__(self, sleep: Sleep, closed_at: Any = None) -> None:
        self.sleep = sleep
        self.closed_at = closed_at if isinstance(closed_at, str) else None
        self.started = time.monotonic()
        self.waited = 0.0

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (nothing for 0) and count it.

        Raises:
            Stopping: the agent was told to stop before the time was up.
        """
        if seconds > 0:
            if not await wait_unless_stopping(self.sleep, seconds):
                raise Stopping(
                    "the wait for a Bulk job was cut short: the agent is stopping",
                    system="salesforce",
                    operation="bulk",
                )
            self.waited += seconds

    async def pause_until(self, seconds: float) -> None:
        """Sleep until ``seconds`` have passed since the clock started (work done meanwhile,
        between handing a job over and coming back for it, counts)."""
        await self.pause(seconds - self.elapsed)

    @property
    def elapsed(self) -> float:
        """Seconds since the clock started."""
        return max(self.waited, time.monotonic() - self.started)

    def org_seconds(self, info: Mapping[str, Any]) -> float:
        """Seconds from the close to the ``systemModstamp`` of the job's JobInfo ``info`` by
        the org's clock (the org stamps a job as each chunk of its rows ends, and when it
        ends); 0 when either stamp is missing or unreadable."""
        return _seconds_between(self.closed_at, info.get("systemModstamp"))

    def ended(self, info: Mapping[str, Any]) -> float:
        """When (monotonic) a job seen complete now, with JobInfo ``info``, ended: by the
        org's clock where its stamps read and say earlier (a poll comes after the end)."""
        now = time.monotonic()
        took = self.org_seconds(info)
        return min(now, self.started + took) if took > 0 else now


class IngestPace:
    """The org's ingest time per row, by operation, and the margin its results are asked with."""

    def __init__(self, settings: SalesforceSettings) -> None:
        self.settings = settings
        self._seconds_per_row: float | None = None
        self._per_operation: dict[str, float] = {}
        """Seconds per row by ingest operation: an update may take longer a row than an insert."""
        self._results_margin = _RESULTS_MARGIN

    @property
    def operation_rates(self) -> dict[str, float]:
        """The time per row learned for each ingest operation (``insert``, ``update``...)."""
        return dict(self._per_operation)

    def learn_rate(self, operation: str, seconds_per_row: float) -> None:
        """Take a time per row for one operation (a value kept by an earlier process).

        Raises:
            ValueError: ``seconds_per_row`` is not a positive finite number.
        """
        value = float(seconds_per_row)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"seconds per row must be a positive number, got {value}")
        self._per_operation[operation] = value

    def rate(self, operation: str | None) -> float | None:
        if operation is not None and operation in self._per_operation:
            return self._per_operation[operation]
        return self._seconds_per_row

    @property
    def seconds_per_row(self) -> float | None:
        """The org's ingest time per row in seconds, ``None`` until known.

        Learned from each ingest job whose end this process saw, or set from outside (a value
        kept by an earlier process). While it is known, an insert or upsert job's results are
        asked for when it says the job is done, instead of polling the job first.

        Raises:
            ValueError: on setting anything but ``None`` or a positive finite number.
        """
        return self._seconds_per_row

    @seconds_per_row.setter
    def seconds_per_row(self, value: float | None) -> None:
        if value is not None:
            value = float(value)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"seconds per row must be a positive number, got {value}")
        self._seconds_per_row = value

    @property
    def results_margin(self) -> float:
        """How much longer than its projected time a job is given before its results are
        asked for (1.25 at first; learned from each such ask, between 1.1 and 1.6).

        Raises:
            ValueError: on setting anything but a finite number (it is then kept in bounds).
        """
        return self._results_margin

    @results_margin.setter
    def results_margin(self, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"a results margin must be a finite number, got {value}")
        self._results_margin = min(max(value, _RESULTS_MARGIN_FLOOR), _RESULTS_MARGIN_CEILING)

    def projected(self, rows: int, margin: float = MARGIN, operation: str | None = None) -> float:
        """The wait until a job of ``rows`` rows should be done, by the known time per row."""
        floor = self.settings.bulk_poll_interval
        per_row = self.rate(operation) or 0.0
        if self._per_operation and operation not in self._per_operation:
            margin = max(margin, _BORROWED_MARGIN)  # timed by another operation's rate
        return min(max(floor, rows * per_row * margin), self.settings.bulk_timeout)

    def next_delay(
        self, info: Mapping[str, Any], rows: int | None, elapsed: float, previous: float
    ) -> float:
        """How long to wait before the next poll of a job still running."""
        floor = self.settings.bulk_poll_interval
        processed = count(info, "numberRecordsProcessed")
        if rows and 0 < processed < rows and elapsed > 0:
            remaining = (rows - processed) * elapsed / processed * MARGIN
            return min(max(remaining, floor), _MAX_PROJECTED_WAIT)
        return min(max(previous, floor) * 2, max(_MAX_POLL_INTERVAL, floor))

    def learn(
        self, info: Mapping[str, Any], rows: int, clock: JobClock, operation: str | None = None
    ) -> None:
        """Remember the org's time per row, from close to done, by the org's own figures.

        The org's clock says when the job was closed and when it ended (its
        ``systemModstamp`` at both), queueing included; its ``totalProcessingTime`` counts the
        processing alone. The longer of the two is taken, unless it exceeds the time this
        process saw pass (a clock of coarse precision): then that time is.
        """
        try:
            busy = float(info.get("totalProcessingTime") or 0) / 1000
        except (TypeError, ValueError):
            busy = 0.0
        measured = max(busy, clock.org_seconds(info))
        self.learn_seconds(_trusted(measured, clock.elapsed), rows, operation)

    @staticmethod
    def progress_seconds(
        info: Mapping[str, Any], rows: int, elapsed: float, clock: JobClock
    ) -> float:
        """Seconds from close to done of a job of ``rows`` rows, by the pace of its progress
        at a poll ``elapsed`` seconds after its close (0: no progress to go by).

        The org saves a job's rows in chunks, stamping the job (``systemModstamp``) as each
        ends: the time from the close to that stamp is the time the processed rows took. Where
        the stamps do not read, the time this process saw pass is taken, which also counts the
        time since the last chunk ended (up to a chunk's time too long).
        """
        processed = count(info, "numberRecordsProcessed")
        if processed <= 0:
            return 0.0
        return _trusted(clock.org_seconds(info), elapsed) * rows / processed

    def learn_seconds(self, seconds: float, rows: int, operation: str | None = None) -> None:
        """Remember the org's time per row from a job of ``rows`` rows done in ``seconds``
        (nothing for a time or a row count that is not above 0)."""
        if seconds > 0 and rows > 0 and math.isfinite(seconds):
            self._seconds_per_row = seconds / rows
            if operation is not None:
                self._per_operation[operation] = seconds / rows


def _trusted(measured: float, seen: float) -> float:
    """The org's figure of a job's time, unless it is missing or longer than the ``seen``
    time this process saw pass (a clock of coarse precision): then that time."""
    return measured if 0 < measured <= seen else seen


def _seconds_between(start: str | None, end: Any) -> float:
    """Seconds between two Salesforce timestamps; 0 when either is missing or unreadable."""
    if not start or not isinstance(end, str) or not end:
        return 0.0
    try:
        return (parse_datetime(end) - parse_datetime(start)).total_seconds()
    except ValueError:
        return 0.0


def count(info: Mapping[str, Any], name: str) -> int:
    """A JobInfo count (0 when missing or unreadable)."""
    try:
        return int(info.get(name) or 0)
    except (TypeError, ValueError):
        return 0


__all__ = ["MARGIN", "TIGHTEN", "IngestPace", "JobClock", "count"]
