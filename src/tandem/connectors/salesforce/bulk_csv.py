"""The CSV of Bulk API 2.0: uploads streamed in chunks, result files read lean.

An upload is written ``_CHUNK_ROWS`` rows at a time, so the payload is never one big string;
a result file keeps only the three cells a job's results need of each row.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from operator import itemgetter, methodcaller

from tandem.connectors.salesforce.client import RecordError

_CHUNK_ROWS = 500
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


def csv_chunks(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> Iterator[bytes]:
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


class RowsByKey:
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


def three_columns(text: str, names: tuple[str, str, str]) -> list[tuple[str, str, str]]:
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
    """:func:`three_columns` of a CSV without a quote or ``\\r``, by splitting its lines.

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


__all__ = [
    "UPLOAD_BYTES",
    "RowsByKey",
    "csv_chunks",
    "parse_bulk_error",
    "read_csv",
    "three_columns",
    "upload_parts",
]
