"""Bulk API 2.0 jobs: ingest and query, processed by one background worker thread.

Job states run ``Open -> UploadComplete -> InProgress -> JobComplete | Failed | Aborted``.
Each job lives in ``DIR/bulk/<id>/``: ``job.json`` (the JobInfo), the uploaded CSV parts, and
the result files (``success.csv``, ``failed.csv``, ``unprocessed.csv``; ``results.csv`` plus a
row offset index for query jobs). Jobs survive a restart; an interrupted job resumes.

A pace (rows per second, the fault setting ``bulk_rows_per_second``) keeps an ingest job
InProgress as long as a real org would take over it. An abort stops a running job as Salesforce
does: the rows processed so far stay written, the rest are listed as unprocessed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import re
import secrets
import shutil
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, cast

from tandem.sandbox.salesforce.bulk_job import (
    DELIMITERS,
    LINE_ENDINGS,
    TERMINAL,
    Job,
    JobKind,
    Operation,
    decode_locator,
    encode_locator,
    now,
)
from tandem.sandbox.salesforce.errors import ApiError
from tandem.sandbox.salesforce.org import Org

__all__ = ["BulkManager", "JobKind"]

log = logging.getLogger("tandem.sandbox.salesforce.bulk")

INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
CHUNK_ROWS = 10_000
_FROM_RE = re.compile(r"\bfrom\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_INGEST_KEYS = (
    "id", "operation", "object", "createdById", "createdDate", "systemModstamp", "state",
    "externalIdFieldName", "concurrencyMode", "contentType", "apiVersion", "contentUrl",
    "lineEnding", "columnDelimiter",
)  # fmt: skip


def _job_error(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message)


class BulkManager:
    """Creates, stores and processes Bulk API 2.0 jobs.

    Args:
        org: the data core the jobs read and write.
        root: the directory jobs are kept in (``DIR/bulk``).
        created_by: the user id recorded as ``createdById``.
        chunk_rows: rows per ``Org.bulk_ingest`` call.
        pace: returns the ingest pace in rows per second (``None``: unpaced); asked again
            before each step, so a changed pace applies to a running job.
    """

    def __init__(
        self,
        org: Org,
        root: Path,
        created_by: str,
        chunk_rows: int = CHUNK_ROWS,
        pace: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.org = org
        self.root = root
        self.created_by = created_by
        self.chunk_rows = chunk_rows
        self.pace = pace
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when the worker leaves a job
        self._stopping = threading.Event()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._current: str | None = None
        self._day = ""
        self._batches_today = 0
        self._query_jobs_today = 0
        root.mkdir(parents=True, exist_ok=True)
        self._load()

    # -- lifecycle -------------------------------------------------------------------------

    def _load(self) -> None:
        for job_file in sorted(self.root.glob("*/job.json")):
            try:
                saved = json.loads(job_file.read_text("utf-8"))
            except (OSError, json.JSONDecodeError):
                log.warning("skipping unreadable bulk job file %s", job_file)
                continue
            job = Job(saved["kind"], job_file.parent, saved["info"])
            self._jobs[str(job.info["id"])] = job
            if job.state in ("UploadComplete", "InProgress"):
                self._queue.put(str(job.info["id"]))

    def start(self) -> None:
        """Start the worker thread."""
        if self._worker is None:
            self._stopping.clear()
            self._worker = threading.Thread(target=self._run, name="bulk-worker", daemon=True)
            self._worker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the worker after the chunk it is processing (a running job stays InProgress
        and goes on when the worker starts again)."""
        if self._worker is not None:
            self._stopping.set()
            self._queue.put(None)
            self._worker.join(timeout)
            self._worker = None

    def counts_today(self) -> tuple[int, int]:
        """``(ingest batches, query jobs)`` counted today (for ``/limits``)."""
        with self._lock:
            self._roll_locked()
            return self._batches_today, self._query_jobs_today

    def _roll_locked(self) -> None:
        today = dt.date.today().isoformat()
        if today != self._day:
            self._day, self._batches_today, self._query_jobs_today = today, 0, 0

    # -- job records -------------------------------------------------------------------------

    def _new_id(self) -> str:
        return "750" + secrets.token_hex(6).upper()[:12] + "AAA"

    def get(self, kind: JobKind, job_id: str) -> Job:
        """The job, or 404 ``NOT_FOUND``."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise _job_error(404, "NOT_FOUND", f"Job with id {job_id} was not found")
        return job

    def info(self, kind: JobKind, job_id: str) -> dict[str, Any]:
        """The full JobInfo of a job."""
        return dict(self.get(kind, job_id).info)

    def list_jobs(self, kind: JobKind) -> list[dict[str, Any]]:
        """JobInfo of every job of a kind, oldest first."""
        with self._lock:
            jobs = [job for job in self._jobs.values() if job.kind == kind]
        jobs.sort(key=lambda job: str(job.info["createdDate"]))
        return [self._summary(job) for job in jobs]

    def _summary(self, job: Job) -> dict[str, Any]:
        if job.kind == "ingest":
            return {key: job.info[key] for key in _INGEST_KEYS if key in job.info}
        return dict(job.info)

    def _register(self, kind: JobKind, info: dict[str, Any]) -> Job:
        directory = self.root / str(info["id"])
        directory.mkdir(parents=True, exist_ok=True)
        job = Job(kind, directory, info)
        job.save()
        with self._lock:
            self._jobs[str(info["id"])] = job
        return job

    def _base_info(self, job_id: str, spec: dict[str, Any], version: str) -> dict[str, Any]:
        delimiter = spec.get("columnDelimiter", "COMMA")
        if delimiter not in DELIMITERS:
            raise _job_error(
                400, "INVALIDJOB", f"columnDelimiter {delimiter!r}: use one of {sorted(DELIMITERS)}"
            )
        line_ending = spec.get("lineEnding", "LF")
        if line_ending not in LINE_ENDINGS:
            raise _job_error(400, "INVALIDJOB", f"lineEnding {line_ending!r}: use LF or CRLF")
        content_type = spec.get("contentType", "CSV")
        if content_type != "CSV":
            raise _job_error(
                400, "INVALIDJOB", f"contentType {content_type!r}: only CSV is supported"
            )
        created = now()
        return {
            "id": job_id,
            "createdById": self.created_by,
            "createdDate": created,
            "systemModstamp": created,
            "state": "Open",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "lineEnding": line_ending,
            "columnDelimiter": delimiter,
            "numberRecordsProcessed": 0,
            "retries": 0,
            "totalProcessingTime": 0,
        }

    def _set_state(self, job: Job, state: str, error: str | None = None) -> None:
        with self._lock:
            job.info["state"] = state
            job.info["systemModstamp"] = now()
            if error is not None:
                job.info["errorMessage"] = error
            job.save()

    # -- ingest ------------------------------------------------------------------------------

    def create_ingest(self, spec: dict[str, Any], version: str) -> dict[str, Any]:
        """Create an ingest job (``POST jobs/ingest``) and return its JobInfo.

        Raises:
            ApiError: 400 ``INVALIDJOB`` for a bad object, operation, field or format.
        """
        sobject, operation = spec.get("object"), spec.get("operation")
        if not isinstance(sobject, str) or not sobject:
            raise _job_error(400, "INVALIDJOB", "object is required")
        if operation not in INGEST_OPERATIONS:
            raise _job_error(
                400, "INVALIDJOB", f"operation {operation!r}: use one of {list(INGEST_OPERATIONS)}"
            )
        try:
            described = self.org.describe(sobject, version)
        except ApiError as exc:
            raise _job_error(
                400, "INVALIDJOB", f"sObject type '{sobject}' is not supported."
            ) from exc
        ext_field = spec.get("externalIdFieldName")
        if operation == "upsert":
            names = {str(f.get("name")) for f in described.get("fields", [])}
            if not ext_field:
                raise _job_error(
                    400,
                    "INVALIDJOB",
                    "External ID was blank for " + sobject + ". An External "
                    "ID must be specified for upsert operations.",
                )
            if ext_field not in names:
                raise _job_error(
                    400, "INVALIDJOB", f"Field name not found : {ext_field} on {sobject}"
                )
        job_id = self._new_id()
        info = self._base_info(job_id, spec, version)
        info.update(
            {
                "operation": operation,
                "object": sobject,
                "externalIdFieldName": ext_field if operation == "upsert" else None,
                "contentUrl": f"services/data/v{version}/jobs/ingest/{job_id}/batches",
                "jobType": "V2Ingest",
                "numberRecordsFailed": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
            }
        )
        if info["externalIdFieldName"] is None:
            del info["externalIdFieldName"]
        return self._summary(self._register("ingest", info))

    def upload(self, job_id: str, data: bytes) -> None:
        """Store one CSV upload (``PUT jobs/ingest/{id}/batches``).

        Raises:
            ApiError: 409 ``INVALIDJOBSTATE`` unless the job is Open; 400 for empty data.
        """
        job = self.get("ingest", job_id)
        if job.state != "Open":
            raise _job_error(
                409,
                "INVALIDJOBSTATE",
                f"Job {job_id} is {job.state}: data can only be uploaded to an Open job",
            )
        if not data.strip():
            raise _job_error(400, "INVALIDBATCH", "The uploaded CSV is empty")
        with self._lock:
            part = len(list(job.directory.glob("upload-*.csv")))
            (job.directory / f"upload-{part:04d}.csv").write_bytes(data)
            self._roll_locked()
            self._batches_today += 1

    def change_state(self, kind: JobKind, job_id: str, state: Any) -> dict[str, Any]:
        """``PATCH jobs/{kind}/{id}``: ``UploadComplete`` (ingest) or ``Aborted``.

        Raises:
            ApiError: 400 ``INVALIDJOBSTATE`` for a transition Salesforce refuses.
        """
        job = self.get(kind, job_id)
        if state == "Aborted":
            if job.state in TERMINAL:
                raise _job_error(
                    400, "INVALIDJOBSTATE", f"Aborting already {job.state} Job not allowed"
                )
            running = job.state == "InProgress"
            job.abort.set()  # a running job stops at its next chunk and lists the rest
            self._set_state(job, "Aborted")
            if running:  # answer once it has stopped: the counts in the reply are final
                with self._lock:
                    self._idle.wait_for(lambda: self._current != job_id, timeout=30)
        elif state == "UploadComplete" and kind == "ingest":
            if job.state != "Open":
                raise _job_error(400, "INVALIDJOBSTATE", f"Job {job_id} is {job.state}, not Open")
            self._set_state(job, "UploadComplete")
            self._queue.put(job_id)
        else:
            raise _job_error(
                400, "INVALIDJOBSTATE", f"state {state!r} cannot be set on a {kind} job"
            )
        return self._summary(job)

    def delete(self, kind: JobKind, job_id: str) -> None:
        """``DELETE jobs/{kind}/{id}``: only for jobs that are not being processed.

        Raises:
            ApiError: 400 ``INVALIDJOBSTATE`` while the job is queued or running.
        """
        job = self.get(kind, job_id)
        with self._lock:
            if job.state in ("UploadComplete", "InProgress") or self._current == job_id:
                raise _job_error(
                    400, "INVALIDJOBSTATE", f"Job {job_id} is {job.state}: abort it or wait for it"
                )
            self._jobs.pop(job_id, None)
        shutil.rmtree(job.directory, ignore_errors=True)

    def results(self, job_id: str, which: str) -> bytes:
        """The CSV of ``successfulResults``, ``failedResults`` or ``unprocessedrecords``.

        Raises:
            ApiError: 412 ``JOB_NOT_COMPLETE`` before processing ended (unprocessed records of
                an Open job are available).
        """
        job = self.get("ingest", job_id)
        name = {"successfulResults": "success", "failedResults": "failed"}.get(which, "unprocessed")
        if job.state not in TERMINAL and not (name == "unprocessed" and job.state == "Open"):
            raise _job_error(
                412, "JOB_NOT_COMPLETE", f"Job {job_id} is {job.state}: results are not ready"
            )
        path = job.directory / f"{name}.csv"
        if path.exists():
            return path.read_bytes()
        if name == "unprocessed" and job.state in ("Failed", "Aborted"):
            return job.unprocessed_csv()
        return job.header_only_csv(name)

    # -- query -------------------------------------------------------------------------------

    def create_query(self, spec: dict[str, Any], version: str) -> dict[str, Any]:
        """Create a query job (``POST jobs/query``) and queue it.

        Raises:
            ApiError: 400 for a bad operation or a malformed query.
        """
        operation, soql = spec.get("operation", "query"), spec.get("query")
        if operation not in ("query", "queryAll"):
            raise _job_error(400, "INVALIDJOB", f"operation {operation!r}: use query or queryAll")
        if not isinstance(soql, str) or not soql.strip():
            raise _job_error(400, "INVALIDJOB", "query is required")
        self.org.query_rows(soql, include_deleted=operation == "queryAll")  # validates the SOQL
        job_id = self._new_id()
        info = self._base_info(job_id, spec, version)
        found = _FROM_RE.search(soql)
        info.update(
            {
                "operation": operation,
                "object": found.group(1) if found else "",
                "query": soql,
                "jobType": "V2Query",
            }
        )
        info["state"] = "UploadComplete"
        job = self._register("query", info)
        with self._lock:
            self._roll_locked()
            self._query_jobs_today += 1
        self._queue.put(job_id)
        return {key: value for key, value in job.info.items() if key != "query"} | {"query": soql}

    def query_results(
        self, job_id: str, version: str, locator: str | None, max_records: int | None
    ) -> tuple[bytes, str, int]:
        """One page of a query job's CSV: ``(body, next locator or "null", row count)``.

        Raises:
            ApiError: 412 before the job completed, 409 from another API version,
                400 for a bad locator.
        """
        job = self.get("query", job_id)
        if job.state != "JobComplete":
            raise _job_error(
                412, "JOB_NOT_COMPLETE", f"Job {job_id} is {job.state}: results are not ready"
            )
        if float(version) != float(job.info["apiVersion"]):
            raise _job_error(
                409, "API_VERSION_MISMATCH",
                f"Job {job_id} was created with API version {job.info['apiVersion']}; "
                f"ask for its results with the same version",
            )  # fmt: skip
        offsets = array("Q")
        offsets.frombytes((job.directory / "results.idx").read_bytes())
        total = len(offsets) - 2  # [header start, row starts..., end]
        start = decode_locator(locator) if locator and locator != "null" else 0
        if start < 0 or start > total:
            raise _job_error(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        count = total - start if max_records is None else min(max_records, total - start)
        with (job.directory / "results.csv").open("rb") as handle:
            header = handle.read(offsets[1] - offsets[0])
            handle.seek(offsets[1 + start])
            rows = handle.read(offsets[1 + start + count] - offsets[1 + start])
        following = start + count
        return header + rows, encode_locator(following) if following < total else "null", count

    # -- the worker ----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.state not in ("UploadComplete", "InProgress"):
                    continue
                self._current = job_id
            try:
                self._process(job)
            except Exception:  # the worker must outlive any one job
                log.exception("bulk job %s could not be recorded", job_id)
            finally:
                with self._lock:
                    self._current = None
                    self._idle.notify_all()

    def _process(self, job: Job) -> None:
        started = time.monotonic()
        try:
            if job.kind == "ingest":
                self._process_ingest(job)
            else:
                self._process_query(job)
        except ApiError as exc:
            self._set_state(job, "Failed", f"InvalidBatch : {exc.message}")
        except Exception as exc:
            log.exception("bulk job %s failed", job.info["id"])
            self._set_state(job, "Failed", f"InternalServerError : {type(exc).__name__}")
        with self._lock:
            elapsed = int((time.monotonic() - started) * 1000)
            job.info["totalProcessingTime"] = int(job.info["totalProcessingTime"]) + elapsed
            if job.kind == "ingest":
                job.info["apiActiveProcessingTime"] = job.info["totalProcessingTime"]
            job.save()

    def _start(self, job: Job) -> bool:
        """Move a queued job to InProgress, unless it was aborted meanwhile."""
        with self._lock:
            if job.abort.is_set() or job.state == "Aborted":
                return False
            job.info["state"] = "InProgress"
            job.info["systemModstamp"] = now()
            job.save()
            return True

    def _finish(self, job: Job) -> None:
        """JobComplete, unless an abort arrived after the last row."""
        with self._lock:
            if job.state != "Aborted":
                job.info["state"] = "JobComplete"
                job.info["systemModstamp"] = now()
                job.save()

    def _step(self) -> int:
        """Rows per step: a chunk, or at a pace about a quarter second's worth."""
        rate = self.pace()
        return self.chunk_rows if rate is None else max(1, min(self.chunk_rows, int(rate / 4)))

    def _go_on(self, job: Job, rows: int) -> bool:
        """Wait out the pace over the next ``rows``; whether to process them."""
        rate = self.pace()
        return job.hold(0.0 if rate is None else rows / rate, self._stopping)

    def _process_ingest(self, job: Job) -> None:
        header, rows = job.uploaded_rows()
        job.check_header(header)
        skip = int(job.info["numberRecordsProcessed"])
        if not self._start(job):
            return
        mode = "ab" if skip else "wb"
        paths = [job.directory / f"{name}.csv" for name in ("success", "failed", "unprocessed")]
        done = False
        with paths[0].open(mode) as ok, paths[1].open(mode) as bad:
            ok_writer = job.writer(ok, quote_all=True)
            bad_writer = job.writer(bad, quote_all=True)
            if not skip:
                job.writer(ok).writerow(["sf__Id", "sf__Created", *header])
                job.writer(bad).writerow(["sf__Id", "sf__Error", *header])
            chunk: list[list[str]] = []
            seen = 0
            for row in rows:
                seen += 1
                if seen <= skip:
                    continue
                chunk.append(row)
                if len(chunk) >= self._step():
                    if not self._go_on(job, len(chunk)):
                        break
                    self._ingest_chunk(job, header, chunk, ok_writer, bad_writer)
                    ok.flush()
                    bad.flush()
                    chunk = []
            else:
                if not chunk or self._go_on(job, len(chunk)):
                    if chunk:
                        self._ingest_chunk(job, header, chunk, ok_writer, bad_writer)
                    chunk, done = [], True
        if job.abort.is_set():
            with paths[2].open("wb") as rest:
                writer = job.writer(rest)
                writer.writerow(header)
                writer.writerows(chunk)
                writer.writerows(rows)
            self._set_state(job, "Aborted")
        elif done:
            self._finish(job)
        else:  # the worker is stopping: the job stays InProgress, next in line at its start
            self._queue.put(str(job.info["id"]))

    def _ingest_chunk(
        self, job: Job, header: list[str], chunk: list[list[str]], ok: Any, bad: Any
    ) -> None:
        width = len(header)
        good = [row for row in chunk if len(row) == width]
        results = iter(
            self.org.bulk_ingest(
                job.info["object"],
                cast(Operation, job.info["operation"]),
                job.info.get("externalIdFieldName"),
                [dict(zip(header, row, strict=True)) for row in good],
            )
        )
        failed = 0
        for row in chunk:
            if len(row) != width:
                failed += 1
                error = f"INVALID_FIELD:The row has {len(row)} columns, the header has {width}:--"
                bad.writerow(["", error, *row])
                continue
            result = next(results)
            if result.error is None:
                ok.writerow([result.id or "", "true" if result.created else "false", *row])
            else:
                failed += 1
                bad.writerow([result.id or "", result.error, *row])
        with self._lock:
            job.info["numberRecordsProcessed"] = int(job.info["numberRecordsProcessed"]) + len(
                chunk
            )
            job.info["numberRecordsFailed"] = int(job.info["numberRecordsFailed"]) + failed
            job.info["systemModstamp"] = now()
            job.save()

    def _process_query(self, job: Job) -> None:
        if not self._start(job):
            return
        columns, rows = self.org.query_rows(
            str(job.info["query"]), include_deleted=job.info["operation"] == "queryAll"
        )
        offsets = array("Q", [0])
        count = 0
        with (job.directory / "results.csv").open("wb") as handle:
            writer = job.writer(handle, quote_all=True)
            position = writer.writerow(columns)
            offsets.append(position)
            for row in cast(Iterable[list[str]], rows):
                if job.abort.is_set():
                    return
                position += writer.writerow(row)
                offsets.append(position)
                count += 1
        (job.directory / "results.idx").write_bytes(offsets.tobytes())
        with self._lock:
            job.info["numberRecordsProcessed"] = count
        self._finish(job)
