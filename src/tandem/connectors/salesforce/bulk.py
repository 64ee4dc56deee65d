"""Bulk API 2.0: ingest jobs for large write batches, query jobs for large reads.

Ingest: create the job, upload the CSV (streamed from the rows in chunks, so the payload is
never built as one big string), mark it ``UploadComplete``, wait for it to end, then read
``successfulResults`` (and ``failedResults`` / ``unprocessedrecords`` only when the job reports
some) to give one ``SaveResult`` per uploaded row, matched by the key column. An update or
delete job that saved every row needs no result file at all: each row's ``Id`` is its key.

Every call counts against the org's daily API allocation, so the wait is spent sparingly:

* Once the org's time per row is known (:attr:`BulkApi.seconds_per_row`: learned from an
  earlier job of this process, or set from outside), an insert or upsert job is not polled:
  after the time that rate projects, ``successfulResults`` itself is asked for. Holding every
  uploaded row, it says the job is done and every row saved: create + upload + close +
  results, four calls. Answered ``412 JOB_NOT_COMPLETE`` (too early), or holding fewer rows,
  the job's info is read and the job polled as below.
* Otherwise the job is polled: the first poll waits for the projected time (or
  ``bulk_poll_interval``), and a job still in progress is polled next when its own progress
  (``numberRecordsProcessed`` over the time since upload) says it will be done; without
  either, the wait doubles. A job whose operation was never timed borrows the rate of
  another (an update job after the upserts of an initial load), with more room.

Query: create the job, poll, then read the CSV result pages, following ``Sforce-Locator`` until
it is ``null``; each page is at most ``bulk_page_size`` rows.

Stopping: within :func:`~tandem.connectors.http.waits_cut_short_by`, a wait for a job ends as
soon as the agent is told to stop, raising :class:`~tandem.errors.Stopping`. An ingest job is
then polled for ``stop_grace_seconds`` (every ``bulk_poll_interval``, at least one look): one
the org finishes meanwhile is collected as usual (its records are not sent again). One still
running after the grace, or when the agent is told to stop at once (which ends the grace), is
aborted (rows it already saved stay saved, the rest are not processed): nothing of it is
committed, and the next start reads its records again and sends
them as idempotent writes (upserts by external ID, updates and deletes by Id), so no job of a
stopped agent lands later over newer values.
A submitted job is held in the stop scope's :class:`~tandem.connectors.http.InFlight` until
collected: a stop at once aborts every job held there (one PATCH each).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from operator import itemgetter, methodcaller
from typing import Any, Literal, overload

from tandem.connectors.http import (
    Sleep,
    in_flight,
    stopping_now,
    wait_unless_stopping,
    wait_unless_stopping_now,
)
from tandem.connectors.salesforce.client import RecordError, SalesforceClient, SaveResult
from tandem.connectors.salesforce.values import parse_datetime
from tandem.errors import ConnectorError, Fatal, Retriable, Stopping

__all__ = [
    "UPLOAD_BYTES",
    "BulkApi",
    "IngestJob",
    "IngestOperation",
    "parse_bulk_error",
    "read_csv",
    "upload_parts",
]

logger = logging.getLogger(__name__)

IngestOperation = Literal["insert", "update", "upsert", "delete"]
_CHUNK_ROWS = 500
_MAX_POLL_INTERVAL = 10.0
_MAX_PROJECTED_WAIT = 60.0
_MARGIN = 1.15  # a projected wait is stretched a little, so one poll usually finds the job done
# Results asked for too early cost two calls (the refusal and a poll), not one: the first wait
# is longer. The margin is then learned: each job found done at the first ask takes back part
# of it (an org that keeps its pace is not waited on for a quarter of every job), each
# refusal gives it back twice over.
_RESULTS_MARGIN = 1.25
_RESULTS_MARGIN_FLOOR = 1.1
_RESULTS_MARGIN_CEILING = 1.6
_TIGHTEN = 0.7  # the share of the margin above 1 kept after a job found done in time
# A rate learned from another operation (an update job timed by the upserts before it) is a
# rougher guess: an update may take longer a row. A poll that comes a little late costs a
# fraction of the job's time; one that comes early costs a call.
_BORROWED_MARGIN = 1.6
_CSV_HEADERS = {"Accept": "text/csv"}
UPLOAD_BYTES = 100_000_000
"""The most CSV bytes one job is given. Salesforce takes at most 150 MB of job data once
base64-encoded (about half as much again), and says to upload no more than 100 MB."""


def read_csv(text: str) -> list[dict[str, str]]:
    """Parse a Bulk CSV result (header row first) into dicts."""
    return list(csv.DictReader(io.StringIO(text)))


def parse_bulk_error(text: str) -> RecordError:
    """Parse an ``sf__Error`` cell: ``CODE:message[:Field1,Field2] --``."""
    text = text.strip()
    if text.endswith("--"):
        text = text[:-2].rstrip()
    code, _, rest = text.partition(":")
    if not rest:
        return RecordError(None, code)
    fields: tuple[str, ...] = ()
    head, sep, tail = rest.rpartition(":")
    candidates = [f.strip() for f in tail.split(",")]
    if sep and not tail.strip():
        rest = head  # the fields part is there, naming none
    elif (
        sep
        and candidates
        and all(c.replace("_", "").replace(".", "").isalnum() for c in candidates)
    ):
        fields = tuple(candidates)
        rest = head
    return RecordError(code.strip() or None, rest.strip(), fields)


def upload_parts(
    columns: Sequence[str], rows: Sequence[Sequence[str]], limit: int | None = None
) -> list[range]:
    """The row ranges to upload as jobs of their own, each under ``limit`` CSV bytes
    (:data:`UPLOAD_BYTES` by default); one range, all rows, in the usual case.

    A row is counted at its most: four bytes a character (UTF-8), each quote doubled, each
    cell quoted. Only when the whole upload might pass the limit is each row measured.
    """
    limit = UPLOAD_BYTES if limit is None else limit
    width = len(columns)
    header = len(",".join(columns).encode()) + 3 * width + 1
    chars = sum(map(len, chain.from_iterable(rows)))
    if header + 4 * chars + 3 * width * len(rows) <= limit:
        return [range(len(rows))]
    parts: list[range] = []
    start, size = 0, header
    for i, cells in enumerate(rows):
        text = ",".join(cells)
        row = len(text.encode()) + text.count('"') + 2 * len(cells) + 1
        if i > start and size + row > limit:
            parts.append(range(start, i))
            start, size = i, header
        size += row
    parts.append(range(start, len(rows)))
    return parts


def _csv_chunks(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Iterator[bytes]:
    """The CSV upload of ``columns`` and ``rows``, ``_CHUNK_ROWS`` rows a chunk, UTF-8.

    The bytes are those of ``csv.writer(..., lineterminator="\\n")``; a chunk whose cells need
    no quoting (the usual case) is joined directly instead (see :func:`_plain_lines`).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for start in range(0, len(rows), _CHUNK_ROWS):
        chunk = rows[start : start + _CHUNK_ROWS]
        plain = _plain_lines(chunk)
        if plain is None:
            writer.writerows(chunk)
        else:
            buffer.write(plain)
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def _plain_lines(rows: Sequence[Sequence[str]]) -> str | None:
    """``rows`` as CSV lines when no cell needs quoting; ``None`` when one may (or is no text).

    The writer quotes a cell holding the delimiter, the quote or a line end, and a row that is a
    single empty cell; each cell joined as it is gives the same text otherwise. One search of
    the joined text finds a quote or ``\\r``, and a count of its commas and line ends one
    inside a cell; a row of fewer than two cells is left to the writer.
    """
    if not rows:
        return ""
    try:
        text = "\n".join(map(",".join, rows))
    except TypeError:  # a cell that is not text: the writer converts it
        return None
    if min(map(len, rows)) < 2 or '"' in text or "\r" in text:
        return None
    if text.count("\n") != len(rows) - 1 or text.count(",") != sum(map(len, rows)) - len(rows):
        return None
    return text + "\n"


class _Clock:
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


class _RowsByKey:
    """Uploaded row positions by key cell; a key uploaded twice yields them in upload order."""

    def __init__(self, keys: list[str]) -> None:
        last = len(keys) - 1
        self._first = dict(zip(reversed(keys), range(last, -1, -1), strict=True))
        self._more: dict[str, deque[int]] = {}
        if len(self._first) < len(keys):
            for i, key in enumerate(keys):
                if self._first[key] != i:
                    self._more.setdefault(key, deque()).append(i)

    def take(self, key: str, default: None = None) -> int | None:
        """The next row with ``key`` not yet given a result, or ``None``.

        With no key uploaded twice this is the plain ``dict.pop`` of the first positions.
        """
        i = self._first.pop(key, default)
        if i is not None:
            later = self._more.get(key)
            if later:
                self._first[key] = later.popleft()
        return i

    @property
    def taker(self) -> Callable[[str, None], int | None]:
        """:meth:`take`, or ``dict.pop`` itself when no key repeats (the usual case)."""
        return self.take if self._more else self._first.pop


def _count(info: Mapping[str, Any], name: str) -> int:
    try:
        return int(info.get(name) or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class IngestJob:
    """An ingest job handed over to the org (uploaded and closed), not yet collected.

    Attributes:
        job_id: the org's job id.
        path: its resource, ``jobs/ingest/<id>``.
        op: the operation's name in errors and logs, e.g. ``bulk upsert Account``.
        operation: the ingest operation.
        keys: each uploaded row's cell in ``key_column``, to match the result files to (the
            rows themselves are let go once uploaded).
        key_column: the column identifying a row in the result files.
        clock: time since the upload was closed.
    """

    job_id: str
    path: str
    op: str
    operation: IngestOperation
    keys: list[str]
    key_column: str
    clock: _Clock


class BulkApi:
    """Bulk API 2.0 on top of a :class:`SalesforceClient`."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.settings = client.settings
        self._seconds_per_row: float | None = None
        self._per_operation: dict[str, float] = {}
        """Seconds per row by ingest operation: an update may take longer a row than an insert."""
        self._seen_done = 0.0
        """When (monotonic) the last ingest job this process saw end ended, at the latest. A job
        closed before that may have waited for the org to finish the one before it: its time
        starts no earlier."""
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

    def _rate(self, operation: str | None) -> float | None:
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

    async def ingest(
        self,
        sobject: str,
        operation: IngestOperation,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        key_column: str,
        external_id: str | None = None,
    ) -> list[SaveResult | None]:
        """Run one ingest job; one result per row in row order (``None``: not processed).

        Args:
            sobject: the object, e.g. ``Account``.
            operation: ``insert``, ``update``, ``upsert`` or ``delete``.
            columns: CSV header (``Id`` for update/delete; the external-ID field for upsert).
            rows: CSV cells, already in Salesforce's text form.
            key_column: the column that identifies a row in the result files.
            external_id: the external-ID field (upsert only).

        Raises:
            Fatal: the job failed as a whole (its ``errorMessage`` is quoted).
            Retriable: the job was aborted or did not finish within ``bulk_timeout``.
        """
        job = await self.submit(
            sobject, operation, columns, rows, key_column=key_column, external_id=external_id
        )
        return await self.collect(job, since_close=False)

    async def submit(
        self,
        sobject: str,
        operation: IngestOperation,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        key_column: str,
        external_id: str | None = None,
    ) -> IngestJob:
        """Create an ingest job, upload the rows and close it: the org starts processing.

        Arguments as for :meth:`ingest`; :meth:`collect` gives the results.
        """
        op = f"bulk {operation} {sobject}"
        spec: dict[str, Any] = {
            "object": sobject,
            "operation": operation,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        if external_id:
            spec["externalIdFieldName"] = external_id
        job = await self.client.call("POST", "jobs/ingest", operation=op, body=spec)
        path = f"jobs/ingest/{job['id']}"

        async def stream() -> AsyncIterator[bytes]:
            for chunk in _csv_chunks(columns, rows):
                yield chunk

        await self.client.send(
            "PUT",
            f"{path}/batches",
            operation=op,
            content=stream,
            headers={"Content-Type": "text/csv"},
        )
        closed = await self.client.call(
            "PATCH", path, operation=op, body={"state": "UploadComplete"}
        )
        stamp = closed.get("systemModstamp") if isinstance(closed, Mapping) else None
        clock = _Clock(self.client.sleep, stamp)
        key_index = list(columns).index(key_column)
        keys = [cells[key_index] for cells in rows]
        handed = IngestJob(str(job["id"]), path, op, operation, keys, key_column, clock)
        held = in_flight()
        if held is not None:  # a stop at once aborts it, if not collected by then
            held.add(handed.path, lambda: self._abort(handed))
        return handed

    async def collect(self, job: IngestJob, *, since_close: bool = True) -> list[SaveResult | None]:
        """Wait for a submitted job; one result per row in row order (``None``: not processed).

        Args:
            job: what :meth:`submit` gave.
            since_close: the first wait is measured from the job's close, so work the caller
                did meanwhile shortens it (False: it starts now, as when collecting at once).

        Raises:
            Fatal: the job failed as a whole (its ``errorMessage`` is quoted).
            Retriable: the job was aborted or did not finish within ``bulk_timeout``.
            Stopping: the agent was told to stop while waiting, and the job was not complete
                (it is aborted).
        """
        try:
            return await self._collect(job, since_close=since_close)
        except Stopping:
            # A job the org finishes within the grace is collected (its records are not
            # sent again); a job still running after it is aborted.
            done = await self._within_grace(job)
            if done is not None:
                return await self._finish(job, done, None)
            fate = await self._abort_once(job)
            raise Stopping(
                f"job {job.job_id} ({len(job.keys)} row(s)) not collected: the agent is "
                f"stopping ({fate}; the next start sends its records again)",
                system="salesforce",
                operation=job.op,
            ) from None
        finally:
            held = in_flight()
            if held is not None:
                held.take(job.path)

    async def _within_grace(self, job: IngestJob) -> dict[str, Any] | None:
        """The job's JobInfo if it completes within ``stop_grace_seconds`` of the stop, polled
        at ``bulk_poll_interval`` (at least one look); None when it does not, has ended
        otherwise, or the agent is told to stop at once."""
        grace = self.settings.stop_grace_seconds
        started, waited = time.monotonic(), 0.0
        while True:
            info = await self._job_info(job)
            state = None if info is None else info.get("state")
            if state == "JobComplete":
                return info
            if state in ("Failed", "Aborted"):
                return None
            left = grace - max(waited, time.monotonic() - started)
            if left <= 0 or stopping_now():
                return None
            pause = min(self.settings.bulk_poll_interval, left)
            if not await wait_unless_stopping_now(self.client.sleep, pause):
                return None
            waited += pause

    async def _abort_once(self, job: IngestJob) -> str:
        """:meth:`_abort`, unless the stop at once has called the job off already; what
        became of it, in words."""
        held = in_flight()
        if held is not None and not held.take(job.path):
            return "aborted on the stop at once"
        return "aborted" if await self._abort(job) else "not aborted"

    async def _job_info(self, job: IngestJob) -> dict[str, Any] | None:
        """The job's JobInfo now (None: not known)."""
        try:
            return dict(await self.client.call("GET", job.path, operation=job.op))
        except ConnectorError as exc:
            logger.info("%s: job %s not looked at: %s", job.op, job.job_id, exc)
            return None

    async def _abort(self, job: IngestJob) -> bool:
        """Abort a job left uncollected, so it does not go on writing after the agent
        stopped; a job that already ended (or an org that refuses the call) is left as is.
        Whether it was aborted."""
        try:
            await self.client.call("PATCH", job.path, operation=job.op, body={"state": "Aborted"})
        except ConnectorError as exc:
            logger.info("%s: job %s not aborted (it may have ended): %s", job.op, job.job_id, exc)
            return False
        return True

    async def _collect(self, job: IngestJob, *, since_close: bool) -> list[SaveResult | None]:
        path, op, operation, clock = job.path, job.op, job.operation, job.clock
        keys, key_column = job.keys, job.key_column
        total = len(keys)
        success: list[tuple[str, str, str]] | None = None
        first_poll: float | None = None
        if operation in ("insert", "upsert") and self._rate(operation) is not None:
            # The success file is read anyway: asked for when the job should be done, it is
            # the poll too. All rows in it: every row saved, the job needs no other call.
            wait = self._projected(total, self._results_margin, operation)
            queued = self._queued(clock) if since_close else 0.0
            if since_close:
                await clock.pause_until(queued + wait)
            else:
                await clock.pause(wait)
            success = await self._result_rows(
                f"{path}/successfulResults/", op, "sf__Created", key_column, early=True
            )
            if success is not None and len(success) == total:
                # Done by now, and by its projection (no margin) at best: the next job queued
                # behind it is timed from the earlier of the two. Timed from now, each job
                # would add the margin it was asked late by to the next one's wait.
                ended = clock.started + queued + self._projected(total, 1.0, operation)
                self._seen_done = min(time.monotonic(), ended)
                self.results_margin = 1 + (self._results_margin - 1) * _TIGHTEN
                return self._place(keys, success, [])
            if success is None:  # refused: asked too early
                self.results_margin = 1 + (self._results_margin - 1) * 2
            logger.debug("%s: %s not done when projected; polling it", op, path)
            first_poll = 0.0
        info = await self._wait(
            path,
            op,
            rows=total,
            clock=clock,
            delay=first_poll,
            operation=operation,
            since_close=since_close,
        )
        return await self._finish(job, info, success)

    async def _finish(
        self,
        job: IngestJob,
        info: Mapping[str, Any],
        success: list[tuple[str, str, str]] | None,
    ) -> list[SaveResult | None]:
        """The results of a job seen complete (``info``: its JobInfo; ``success``: the success
        file's rows if already read)."""
        path, op, operation = job.path, job.op, job.operation
        keys, key_column, total = job.keys, job.key_column, len(job.keys)
        failed = _count(info, "numberRecordsFailed")
        processed = _count(info, "numberRecordsProcessed")
        if operation in ("update", "delete") and failed == 0 and processed == total:
            return [SaveResult(key or None, True) for key in keys]
        if success is None or len(success) < processed - failed:
            success = await self._result_rows(
                f"{path}/successfulResults/", op, "sf__Created", key_column
            )
        failures: list[tuple[str, str, str]] = []
        if failed > 0:
            failures = await self._result_rows(
                f"{path}/failedResults/", op, "sf__Error", key_column
            )
        results = self._place(keys, success or [], failures)
        missing = results.count(None)
        if missing:
            unprocessed = await self._results(f"{path}/unprocessedrecords/", op)
            logger.warning(
                "%s: job %s left %d row(s) without a result (%d listed as unprocessed)",
                op,
                job.job_id,
                missing,
                len(unprocessed),
            )
        return results

    @staticmethod
    def _place(
        keys: list[str],
        success: list[tuple[str, str, str]],
        failures: list[tuple[str, str, str]],
    ) -> list[SaveResult | None]:
        """One result per uploaded row (by its key) from the result files' ``(sf__Id, cell,
        key)`` rows."""
        take = _RowsByKey(keys).taker
        results: list[SaveResult | None] = [None] * len(keys)
        for sf_id, created, key in success:
            i = take(key, None)
            if i is not None:
                results[i] = SaveResult(sf_id or None, True, created.lower() == "true")
        for sf_id, message, key in failures:
            i = take(key, None)
            if i is not None:
                error = parse_bulk_error(message)
                results[i] = SaveResult(sf_id or None, False, errors=(error,))
        return results

    async def query(
        self, soql: str, *, include_deleted: bool = False
    ) -> AsyncIterator[list[dict[str, str]]]:
        """Run a query job; yield its CSV result pages as lists of dicts (text cells)."""
        op = "bulk queryAll" if include_deleted else "bulk query"
        spec = {
            "operation": "queryAll" if include_deleted else "query",
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        }
        job = await self.client.call("POST", "jobs/query", operation=op, body=spec)
        job_id = str(job["id"])
        try:
            await self._wait(f"jobs/query/{job_id}", op)
        except Stopping:
            # a read: the job may run on, nothing of it is kept (the cursor did not move)
            raise Stopping(
                f"query job {job_id} not read: the agent is stopping",
                system="salesforce",
                operation=op,
            ) from None
        locator: str | None = None
        while True:
            params = {"maxRecords": str(self.settings.bulk_page_size)}
            if locator:
                params["locator"] = locator
            response = await self.client.send(
                "GET",
                f"jobs/query/{job_id}/results",
                operation=op,
                params=params,
                headers=_CSV_HEADERS,
            )
            yield read_csv(response.text)
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    async def _results(self, path: str, op: str) -> list[dict[str, str]]:
        response = await self.client.send("GET", path, operation=op, headers=_CSV_HEADERS)
        return read_csv(response.text)

    @overload
    async def _result_rows(
        self, path: str, op: str, column: str, key_column: str, *, early: Literal[False] = ...
    ) -> list[tuple[str, str, str]]: ...

    @overload
    async def _result_rows(
        self, path: str, op: str, column: str, key_column: str, *, early: bool
    ) -> list[tuple[str, str, str]] | None: ...

    async def _result_rows(
        self, path: str, op: str, column: str, key_column: str, *, early: bool = False
    ) -> list[tuple[str, str, str]] | None:
        """``(sf__Id, column, key)`` of each row of a result file.

        Only three cells per row are kept (not a dict of every uploaded column), so reading
        the results of a large job costs little memory. ``early``: the job may still be
        running; ``None`` when Salesforce says its results are not ready yet.
        """
        if early:
            response = await self.client.job_result(path, operation=op, headers=_CSV_HEADERS)
            if response is None:
                return None
        else:
            response = await self.client.send("GET", path, operation=op, headers=_CSV_HEADERS)
        return _three_columns(response.text, ("sf__Id", column, key_column))

    def _queued(self, clock: _Clock) -> float:
        """Seconds a job closed at ``clock``'s start may have waited behind an earlier job:
        until that one ended, as far as this process knows (the org works a queue in order; a
        guess on the late side costs a little time, one on the early side a refused read and
        a poll)."""
        return max(0.0, self._seen_done - clock.started)

    def _projected(self, rows: int, margin: float = _MARGIN, operation: str | None = None) -> float:
        """The wait until a job of ``rows`` rows should be done, by the known time per row."""
        floor = self.settings.bulk_poll_interval
        per_row = self._rate(operation) or 0.0
        if self._per_operation and operation not in self._per_operation:
            margin = max(margin, _BORROWED_MARGIN)  # timed by another operation's rate
        return min(max(floor, rows * per_row * margin), self.settings.bulk_timeout)

    async def _wait(
        self,
        path: str,
        op: str,
        *,
        rows: int | None = None,
        clock: _Clock | None = None,
        delay: float | None = None,
        operation: str | None = None,
        since_close: bool = False,
    ) -> dict[str, Any]:
        """Poll a job until it reaches a final state, spending as few polls as it can.

        Args:
            path: the job's resource.
            op: the operation, for errors.
            rows: rows uploaded (ingest jobs), to size the waits.
            clock: the job's clock, when some of its time was already spent.
            delay: the wait before the first poll (default: projected from the time per row
                for an ingest job, else ``bulk_poll_interval``).
            operation: the ingest operation, whose own time per row is used and learned.
            since_close: the first wait counts the time already passed on ``clock``.
        """
        clock = clock or _Clock(self.client.sleep)
        if delay is None:
            delay = self.settings.bulk_poll_interval
            if rows and self._rate(operation):
                delay = self._projected(rows, operation=operation)
        first = True
        while True:
            if first and since_close:
                await clock.pause_until(self._queued(clock) + delay)
            else:
                await clock.pause(delay)
            first = False
            info = dict(await self.client.call("GET", path, operation=op))
            state = info.get("state")
            elapsed = clock.elapsed
            if state == "JobComplete":
                self._seen_done = time.monotonic()
                if rows:
                    self._learn(info, rows, clock, operation)
                return info
            if state == "Failed":
                raise Fatal(
                    f"job {info.get('id')} failed: {info.get('errorMessage') or 'no message'}",
                    system="salesforce",
                    operation=op,
                )
            if state == "Aborted":
                raise Retriable(
                    f"job {info.get('id')} was aborted", system="salesforce", operation=op
                )
            if clock.waited >= self.settings.bulk_timeout:
                raise Retriable(
                    f"job {info.get('id')} still {state} after {self.settings.bulk_timeout:.0f}s",
                    system="salesforce",
                    operation=op,
                )
            delay = self._next_delay(info, rows, elapsed, delay)

    def _next_delay(
        self, info: Mapping[str, Any], rows: int | None, elapsed: float, previous: float
    ) -> float:
        """How long to wait before the next poll of a job still running."""
        floor = self.settings.bulk_poll_interval
        processed = _count(info, "numberRecordsProcessed")
        if rows and 0 < processed < rows and elapsed > 0:
            remaining = (rows - processed) * elapsed / processed * _MARGIN
            return min(max(remaining, floor), _MAX_PROJECTED_WAIT)
        return min(max(previous, floor) * 2, max(_MAX_POLL_INTERVAL, floor))

    def _learn(
        self, info: Mapping[str, Any], rows: int, clock: _Clock, operation: str | None = None
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
        measured = max(busy, _seconds_between(clock.closed_at, info.get("systemModstamp")))
        elapsed = clock.elapsed
        seconds = measured if 0 < measured <= elapsed else elapsed
        if seconds > 0:
            self._seconds_per_row = seconds / rows
            if operation is not None:
                self._per_operation[operation] = seconds / rows


def _seconds_between(start: str | None, end: Any) -> float:
    """Seconds between two Salesforce timestamps; 0 when either is missing or unreadable."""
    if not start or not isinstance(end, str) or not end:
        return 0.0
    try:
        return (parse_datetime(end) - parse_datetime(start)).total_seconds()
    except ValueError:
        return 0.0


def _three_columns(text: str, names: tuple[str, str, str]) -> list[tuple[str, str, str]]:
    """The cells of three named columns of a CSV (``""`` for a column it lacks)."""
    if '"' not in text and "\r" not in text:
        split = _split_columns(text, names)
        if split is not None:
            return split
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        return []
    where = {name: i for i, name in enumerate(header)}
    wanted = [where.get(name) for name in names]
    found = [i for i in wanted if i is not None]
    width = max(found, default=-1)
    if len(found) == len(wanted):
        pick = itemgetter(*found)
        return [pick(cells) for cells in reader if len(cells) > width]
    return [
        (
            cells[wanted[0]] if wanted[0] is not None else "",
            cells[wanted[1]] if wanted[1] is not None else "",
            cells[wanted[2]] if wanted[2] is not None else "",
        )
        for cells in reader
        if len(cells) > width
    ]


def _split_columns(text: str, names: tuple[str, str, str]) -> list[tuple[str, str, str]] | None:
    """:func:`_three_columns` of a CSV without a quote or ``\\r``, by splitting its lines.

    Without a quote no cell holds a comma or a line end, so each line is a row and each comma
    ends a cell, as ``csv.reader`` reads them; a line is split only up to the last column
    wanted. ``None`` (read it with ``csv.reader``) when the header is empty or lacks a column.
    """
    lines = text.split("\n")
    if not lines[0]:
        return None
    where = {name: i for i, name in enumerate(lines[0].split(","))}
    wanted = [where[name] for name in names if name in where]
    width = max(wanted, default=0)
    if len(wanted) != len(names) or width == 0:  # (0: an empty line would count as a row)
        return None
    pick = itemgetter(*wanted)
    cut = width + 1  # cells past the last one wanted stay joined in one
    return [
        pick(cells)
        for cells in map(methodcaller("split", ",", cut), islice(lines, 1, None))
        if len(cells) > width
    ]
