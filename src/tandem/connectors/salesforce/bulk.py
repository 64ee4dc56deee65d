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
  ``bulk_poll_interval``), and a job still in progress is looked at next when its own
  progress (``numberRecordsProcessed`` over the time since upload) says it will be done; for
  an insert or upsert job that look is ``successfulResults`` again, so a job found done
  costs no poll before its file (its progress also teaches the org's time per row). Without
  progress to go by, the wait doubles. A job whose operation was never timed borrows the rate of
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

import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from tandem.connectors.http import (
    in_flight,
    stopping_now,
    wait_unless_stopping_now,
)
from tandem.connectors.salesforce.bulk_csv import (
    UPLOAD_BYTES,
    RowsByKey,
    csv_chunks,
    parse_bulk_error,
    read_csv,
    three_columns,
    upload_parts,
)
from tandem.connectors.salesforce.bulk_pace import TIGHTEN, IngestPace, JobClock, count
from tandem.connectors.salesforce.client import SalesforceClient, SaveResult
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
_CSV_HEADERS = {"Accept": "text/csv"}


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
    clock: JobClock


class BulkApi:
    """Bulk API 2.0 on top of a :class:`SalesforceClient`."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.settings = client.settings
        self.pace = IngestPace(client.settings)
        """The org's time per row and the margin results are asked with."""
        self._seen_done = 0.0
        """When (monotonic) the last ingest job this process saw end ended, at the latest. A job
        closed before that may have waited for the org to finish the one before it: its time
        starts no earlier."""

    @property
    def operation_rates(self) -> dict[str, float]:
        """The time per row learned for each ingest operation (``insert``, ``update``...)."""
        return self.pace.operation_rates

    def learn_rate(self, operation: str, seconds_per_row: float) -> None:
        """Take a time per row for one operation (see :meth:`IngestPace.learn_rate`).

        Raises:
            ValueError: ``seconds_per_row`` is not a positive finite number.
        """
        self.pace.learn_rate(operation, seconds_per_row)

    @property
    def seconds_per_row(self) -> float | None:
        """The org's ingest time per row in seconds, ``None`` until known (see
        :attr:`IngestPace.seconds_per_row`).

        Raises:
            ValueError: on setting anything but ``None`` or a positive finite number.
        """
        return self.pace.seconds_per_row

    @seconds_per_row.setter
    def seconds_per_row(self, value: float | None) -> None:
        self.pace.seconds_per_row = value

    @property
    def results_margin(self) -> float:
        """How much longer than its projected time a job is given before its results are
        asked for (see :attr:`IngestPace.results_margin`).

        Raises:
            ValueError: on setting anything but a finite number (it is then kept in bounds).
        """
        return self.pace.results_margin

    @results_margin.setter
    def results_margin(self, value: float) -> None:
        self.pace.results_margin = value

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
            for chunk in csv_chunks(columns, rows):
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
        clock = JobClock(self.client.sleep, stamp)
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
        if job.operation in ("insert", "upsert"):
            return await self._settle(job, since_close=since_close)
        info = await self._wait(
            job.path,
            job.op,
            rows=len(job.keys),
            clock=job.clock,
            operation=job.operation,
            since_close=since_close,
        )
        return await self._finish(job, info, None)

    async def _settle(self, job: IngestJob, *, since_close: bool) -> list[SaveResult | None]:
        """Wait for an insert or upsert job and read its results.

        The success file is read anyway: asked for when the job should be done, it is the
        poll too, and holding every row it says the job saved them all (no other call). When
        the job should be done is projected from the org's time per row where known, else from
        the job's own progress at a poll.
        """
        path, op, operation, clock = job.path, job.op, job.operation, job.clock
        total = len(job.keys)
        success: list[tuple[str, str, str]] | None = None
        delay = self.settings.bulk_poll_interval
        first = since_close
        if self.pace.rate(operation) is not None:
            queued = self._queued(clock) if since_close else 0.0
            wait = self.pace.projected(total, self.pace.results_margin, operation)
            await self._pause(clock, wait, since_close=since_close)
            success = await self._success_file(job)
            if success is not None and len(success) == total:
                # Done by now, and by its projection (no margin) at best: the next job queued
                # behind it is timed from the earlier of the two. Timed from now, each job
                # would add the margin it was asked late by to the next one's wait.
                ended = clock.started + queued + self.pace.projected(total, 1.0, operation)
                self._seen_done = min(time.monotonic(), ended)
                self.results_margin = 1 + (self.pace.results_margin - 1) * TIGHTEN
                return self._place(job.keys, success, [])
            if success is None:  # refused: asked too early
                self.results_margin = 1 + (self.pace.results_margin - 1) * 2
            logger.debug("%s: %s not done when projected; polling it", op, path)
            delay, first = 0.0, False
        while True:
            await self._pause(clock, delay, since_close=first)
            first = False
            info = await self._poll(path, op, rows=total, clock=clock, operation=operation)
            if info.get("state") == "JobComplete":
                return await self._finish(job, info, success)
            processed, elapsed = count(info, "numberRecordsProcessed"), clock.elapsed
            delay = self.pace.next_delay(info, total, elapsed, delay)
            if not 0 < processed < total:
                continue
            # Its progress says when it will be done: the success file is asked for then,
            # instead of a poll that would find it done and then the file.
            await clock.pause(delay)
            success = await self._success_file(job)
            if success is not None and len(success) == total:
                seconds = self.pace.progress_seconds(info, total, elapsed, clock)
                self._seen_done = min(time.monotonic(), clock.started + seconds)
                self.pace.learn_seconds(seconds, total, operation)
                return self._place(job.keys, success, [])
            delay = 0.0  # refused, or some rows not saved (yet): the job is looked at now

    async def _success_file(self, job: IngestJob) -> list[tuple[str, str, str]] | None:
        """The job's success file, read before the job may be done (``None``: refused)."""
        return await self._result_rows(
            f"{job.path}/successfulResults/", job.op, "sf__Created", job.key_column, early=True
        )

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
        failed = count(info, "numberRecordsFailed")
        processed = count(info, "numberRecordsProcessed")
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
        take = RowsByKey(keys).taker
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
        return three_columns(response.text, ("sf__Id", column, key_column))

    def _queued(self, clock: JobClock) -> float:
        """Seconds a job closed at ``clock``'s start may have waited behind an earlier job:
        until that one ended, as far as this process knows (the org works a queue in order; a
        guess on the late side costs a little time, one on the early side a refused read and
        a poll)."""
        return max(0.0, self._seen_done - clock.started)

    async def _wait(
        self,
        path: str,
        op: str,
        *,
        rows: int | None = None,
        clock: JobClock | None = None,
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
        clock = clock or JobClock(self.client.sleep)
        if delay is None:
            delay = self.settings.bulk_poll_interval
            if rows and self.pace.rate(operation):
                delay = self.pace.projected(rows, operation=operation)
        first = True
        while True:
            await self._pause(clock, delay, since_close=first and since_close)
            first = False
            info = await self._poll(path, op, rows=rows, clock=clock, operation=operation)
            if info.get("state") == "JobComplete":
                return info
            delay = self.pace.next_delay(info, rows, clock.elapsed, delay)

    async def _pause(self, clock: JobClock, delay: float, *, since_close: bool) -> None:
        """Wait ``delay`` before looking at a job (``since_close``: counted from its close,
        after any job queued before it)."""
        if since_close:
            await clock.pause_until(self._queued(clock) + delay)
        else:
            await clock.pause(delay)

    async def _poll(
        self,
        path: str,
        op: str,
        *,
        rows: int | None,
        clock: JobClock,
        operation: str | None,
    ) -> dict[str, Any]:
        """One look at a job: its JobInfo, complete (the org's pace learned from it) or still
        under way.

        Raises:
            Fatal: the job failed.
            Retriable: it was aborted, or is still running after ``bulk_timeout``.
        """
        info = dict(await self.client.call("GET", path, operation=op))
        state = info.get("state")
        if state == "JobComplete":
            self._seen_done = clock.ended(info)
            if rows:
                self.pace.learn(info, rows, clock, operation)
            return info
        if state == "Failed":
            raise Fatal(
                f"job {info.get('id')} failed: {info.get('errorMessage') or 'no message'}",
                system="salesforce",
                operation=op,
            )
        if state == "Aborted":
            raise Retriable(f"job {info.get('id')} was aborted", system="salesforce", operation=op)
        if clock.waited >= self.settings.bulk_timeout:
            raise Retriable(
                f"job {info.get('id')} still {state} after {self.settings.bulk_timeout:.0f}s",
                system="salesforce",
                operation=op,
            )
        return info
