"""Bulk API 2.0: ingest jobs for large write batches, query jobs for large reads.

Ingest: create the job, upload the CSV (streamed from the rows in chunks, so the payload is
never built as one big string), mark it ``UploadComplete``, poll until ``JobComplete`` /
``Failed`` / ``Aborted``, then read ``successfulResults`` (and ``failedResults`` /
``unprocessedrecords`` only when the job reports some) to give one ``SaveResult`` per uploaded
row, matched by the key column. An update or delete job that saved every row needs no result
file at all: each row's ``Id`` is its key.

Every call counts against the org's daily API allocation, so polls are spent sparingly: the
first poll waits for the time the org took per row on the previous job of this run, and a
job still in progress is polled next when its own progress (``numberRecordsProcessed`` over
the time since upload) says it will be done; without either, the wait doubles.

Query: create the job, poll, then read the CSV result pages, following ``Sforce-Locator`` until
it is ``null``; each page is at most ``bulk_page_size`` rows.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal

from tandem.connectors.salesforce.client import RecordError, SalesforceClient, SaveResult
from tandem.errors import Fatal, Retriable

__all__ = ["BulkApi", "IngestOperation", "parse_bulk_error", "read_csv"]

logger = logging.getLogger(__name__)

IngestOperation = Literal["insert", "update", "upsert", "delete"]
_CHUNK_ROWS = 500
_MAX_POLL_INTERVAL = 10.0
_MAX_PROJECTED_WAIT = 60.0
_MARGIN = 1.15  # a projected wait is stretched a little, so one poll usually finds the job done
_CSV_HEADERS = {"Accept": "text/csv"}


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
    if (
        sep
        and candidates
        and all(c.replace("_", "").replace(".", "").isalnum() for c in candidates)
    ):
        fields = tuple(candidates)
        rest = head
    return RecordError(code.strip() or None, rest.strip(), fields)


def _csv_chunks(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for start in range(0, len(rows), _CHUNK_ROWS):
        writer.writerows(rows[start : start + _CHUNK_ROWS])
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


class BulkApi:
    """Bulk API 2.0 on top of a :class:`SalesforceClient`."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.settings = client.settings
        self._seconds_per_row: float | None = None

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
        job_id = str(job["id"])

        async def stream() -> AsyncIterator[bytes]:
            for chunk in _csv_chunks(columns, rows):
                yield chunk

        await self.client.send(
            "PUT",
            f"jobs/ingest/{job_id}/batches",
            operation=op,
            content=stream,
            headers={"Content-Type": "text/csv"},
        )
        await self.client.call(
            "PATCH", f"jobs/ingest/{job_id}", operation=op, body={"state": "UploadComplete"}
        )
        info = await self._wait(f"jobs/ingest/{job_id}", op, rows=len(rows))
        key_index = list(columns).index(key_column)
        failed = int(info.get("numberRecordsFailed") or 0)
        processed = int(info.get("numberRecordsProcessed") or 0)
        if operation in ("update", "delete") and failed == 0 and processed == len(rows):
            return [SaveResult(cells[key_index] or None, True) for cells in rows]
        position: dict[str, deque[int]] = defaultdict(deque)
        for i, cells in enumerate(rows):
            position[cells[key_index]].append(i)
        results: list[SaveResult | None] = [None] * len(rows)

        def place(key: str, result: SaveResult) -> None:
            slots = position.get(key)
            if slots:
                results[slots.popleft()] = result

        path = f"jobs/ingest/{job_id}/successfulResults/"
        for sf_id, created, key in await self._columns(path, op, "sf__Created", key_column):
            place(key, SaveResult(sf_id or None, True, created.lower() == "true"))
        if failed > 0:
            path = f"jobs/ingest/{job_id}/failedResults/"
            for sf_id, message, key in await self._columns(path, op, "sf__Error", key_column):
                error = parse_bulk_error(message)
                place(key, SaveResult(sf_id or None, False, errors=(error,)))
        missing = sum(1 for r in results if r is None)
        if missing:
            unprocessed = await self._results(f"jobs/ingest/{job_id}/unprocessedrecords/", op)
            logger.warning(
                "%s: job %s left %d row(s) without a result (%d listed as unprocessed)",
                op,
                job_id,
                missing,
                len(unprocessed),
            )
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
        await self._wait(f"jobs/query/{job_id}", op)
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

    async def _columns(
        self, path: str, op: str, column: str, key_column: str
    ) -> list[tuple[str, str, str]]:
        """``(sf__Id, column, key)`` of each row of a result file.

        Only three cells per row are kept (not a dict of every uploaded column), so reading
        the results of a large job costs little memory.
        """
        response = await self.client.send("GET", path, operation=op, headers=_CSV_HEADERS)
        reader = csv.reader(io.StringIO(response.text))
        header = next(reader, None)
        if header is None:
            return []
        where = {name: i for i, name in enumerate(header)}
        wanted = [where.get(name) for name in ("sf__Id", column, key_column)]
        width = max((i for i in wanted if i is not None), default=-1)
        return [
            (
                cells[wanted[0]] if wanted[0] is not None else "",
                cells[wanted[1]] if wanted[1] is not None else "",
                cells[wanted[2]] if wanted[2] is not None else "",
            )
            for cells in reader
            if len(cells) > width
        ]

    async def _wait(self, path: str, op: str, *, rows: int | None = None) -> dict[str, Any]:
        """Poll a job until it reaches a final state, spending as few polls as it can.

        Args:
            path: the job's resource.
            op: the operation, for errors.
            rows: rows uploaded (ingest jobs), to size the waits.
        """
        floor = self.settings.bulk_poll_interval
        delay = floor
        if rows and self._seconds_per_row:
            delay = max(floor, rows * self._seconds_per_row * _MARGIN)
        started = time.monotonic()
        waited = 0.0  # counted from the sleeps asked for, so a fake clock works in tests
        while True:
            await self.client.sleep(delay)
            waited += delay
            info = dict(await self.client.call("GET", path, operation=op))
            state = info.get("state")
            elapsed = max(waited, time.monotonic() - started)
            if state == "JobComplete":
                if rows:
                    self._learn(info, rows, elapsed)
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
            if waited >= self.settings.bulk_timeout:
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
        try:
            processed = int(info.get("numberRecordsProcessed") or 0)
        except (TypeError, ValueError):
            processed = 0
        if rows and 0 < processed < rows and elapsed > 0:
            remaining = (rows - processed) * elapsed / processed * _MARGIN
            return min(max(remaining, floor), _MAX_PROJECTED_WAIT)
        return min(previous * 2, max(_MAX_POLL_INTERVAL, floor))

    def _learn(self, info: Mapping[str, Any], rows: int, elapsed: float) -> None:
        """Remember the org's time per row (its own processing time when it reports one)."""
        try:
            busy = float(info.get("totalProcessingTime") or 0) / 1000
        except (TypeError, ValueError):
            busy = 0.0
        seconds = busy if 0 < busy <= elapsed else elapsed
        self._seconds_per_row = seconds / rows
