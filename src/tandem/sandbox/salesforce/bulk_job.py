"""One Bulk API 2.0 job on disk, and the CSV and locator formats the jobs use.

A job is a directory ``DIR/bulk/<id>/`` holding ``job.json`` (its kind and JobInfo) next to
its uploads and results; :class:`Job` reads and writes it. :mod:`.bulk` runs the jobs.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Literal

from tandem.sandbox.salesforce.errors import ApiError

__all__ = [
    "DELIMITERS",
    "LINE_ENDINGS",
    "TERMINAL",
    "Job",
    "JobKind",
    "Operation",
    "decode_locator",
    "encode_locator",
    "now",
]

JobKind = Literal["ingest", "query"]
Operation = Literal["insert", "update", "upsert", "delete", "hardDelete"]
DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
TERMINAL = ("JobComplete", "Failed", "Aborted")
_LOOK_EVERY = 0.05
"""Seconds between looks for an abort or a stop while a paced job waits out its rows."""


def now() -> str:
    """The current time as Salesforce writes it: ``2024-05-01T10:00:00.000+0000``."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def encode_locator(offset: int) -> str:
    """An opaque query-results locator for a row offset (``MTAwMDA`` is 10000)."""
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    """The row offset of a locator.

    Raises:
        ApiError: 400 ``INVALIDLOCATOR`` for a locator this server did not issue.
    """
    try:
        padded = locator + "=" * (-len(locator) % 4)
        return int(base64.b64decode(padded, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from exc


class _ByteCounter:
    """A write target for ``csv.writer`` that reports bytes written (for the row index)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.handle.write(data)
        return len(data)


class Job:
    """A job's kind, directory and JobInfo (camelCase, as sent on the wire).

    Args:
        kind: ``ingest`` or ``query``.
        directory: the job's directory.
        info: the JobInfo fields.
    """

    def __init__(self, kind: JobKind, directory: Path, info: dict[str, Any]) -> None:
        self.kind = kind
        self.directory = directory
        self.info = info
        self.abort = threading.Event()

    @property
    def state(self) -> str:
        """The job state (``Open``, ``UploadComplete``, ...)."""
        return str(self.info["state"])

    def hold(self, seconds: float, stopping: threading.Event) -> bool:
        """Wait ``seconds`` (the org's pace over the next rows), looking out for an abort.

        Args:
            seconds: how long the next rows take; 0 only looks.
            stopping: set when the worker is told to stop.

        Returns:
            ``True`` to process the rows; ``False`` as soon as the job is aborted or the worker
            stops (the rows are then left unprocessed).
        """
        end = time.monotonic() + seconds
        while not (self.abort.is_set() or stopping.is_set()):
            left = end - time.monotonic()
            if left <= 0:
                return True
            self.abort.wait(min(left, _LOOK_EVERY))
        return False

    def save(self) -> None:
        """Write ``job.json`` atomically."""
        tmp = self.directory / "job.tmp"
        tmp.write_text(json.dumps({"kind": self.kind, "info": self.info}))
        os.replace(tmp, self.directory / "job.json")

    def dialect(self) -> tuple[str, str]:
        """The job's ``(column delimiter, line ending)`` characters."""
        return DELIMITERS[self.info["columnDelimiter"]], LINE_ENDINGS[self.info["lineEnding"]]

    def writer(self, handle: IO[bytes], *, quote_all: bool = False) -> Any:
        """A ``csv.writer`` in the job's format; ``writerow`` returns the bytes written."""
        delimiter, line_end = self.dialect()
        return csv.writer(
            _ByteCounter(handle),
            delimiter=delimiter,
            lineterminator=line_end,
            quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
        )

    def uploaded_rows(self) -> tuple[list[str], Iterator[list[str]]]:
        """The header and (lazily) the rows of every upload, in upload order.

        Raises:
            ApiError: 400 ``INVALIDBATCH`` when nothing was uploaded, or (while iterating) when
                an upload's header differs from the first one.
        """
        delimiter, _ = self.dialect()
        parts = sorted(self.directory.glob("upload-*.csv"))
        if not parts:
            raise ApiError(400, "INVALIDBATCH", "No data was uploaded for this job")
        with parts[0].open(encoding="utf-8-sig", newline="") as first:
            header: list[str] = next(csv.reader(first, delimiter=delimiter), [])

        def rows() -> Iterator[list[str]]:
            for index, part in enumerate(parts):
                with part.open(encoding="utf-8-sig", newline="") as handle:
                    reader = csv.reader(handle, delimiter=delimiter)
                    if index and next(reader, []) != header:
                        raise ApiError(
                            400, "INVALIDBATCH", f"upload {index + 1} has a different header"
                        )
                    if not index:
                        next(reader, [])
                    yield from (row for row in reader if row)

        return header, rows()

    def check_header(self, header: list[str]) -> None:
        """Check an ingest CSV header against the job's operation.

        Raises:
            ApiError: 400 ``INVALIDBATCH`` for an empty or duplicate column, or a missing
                ``Id`` (update, delete) or external ID column (upsert).
        """
        if not header or any(not name.strip() for name in header):
            raise ApiError(400, "INVALIDBATCH", "Failed to parse the CSV header")
        if len(set(header)) != len(header):
            raise ApiError(400, "INVALIDBATCH", "Duplicate field names in the CSV header")
        operation = self.info["operation"]
        needed = self.info.get("externalIdFieldName") if operation == "upsert" else None
        if operation in ("update", "delete", "hardDelete"):
            needed = "Id"
        if needed and needed not in header:
            raise ApiError(400, "INVALIDBATCH", f"Field name not found : {needed}")

    def unprocessed_csv(self) -> bytes:
        """The uploaded rows past ``numberRecordsProcessed`` of a job that stopped early."""
        try:
            header, rows = self.uploaded_rows()
            skip = int(self.info["numberRecordsProcessed"])
            buffer = io.BytesIO()
            writer = self.writer(buffer)
            writer.writerow(header)
            writer.writerows(row for index, row in enumerate(rows) if index >= skip)
        except ApiError:  # no upload, or uploads that cannot be read: nothing to hand back
            return self.header_only_csv("unprocessed")
        return buffer.getvalue()

    def header_only_csv(self, name: str) -> bytes:
        """An empty result file: ``success``, ``failed`` or ``unprocessed``."""
        try:
            header, _ = self.uploaded_rows()
        except ApiError:
            header = []
        prefix = {"success": ["sf__Id", "sf__Created"], "failed": ["sf__Id", "sf__Error"]}
        buffer = io.BytesIO()
        self.writer(buffer).writerow(prefix.get(name, []) + header)
        return buffer.getvalue()
