"""The CRM side of a reconcile scan, kept on disk: memory stays bounded whatever the volume.

Each CRM record is kept as its key, the digest of its compared values and, when it is not
linked, the ERP id it carries, in a temporary SQLite file that is gone when closed.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from types import TracebackType

_LOOKUP = 500
"""Keys per ``IN`` lookup (under SQLite's variable limit)."""


class Spill:
    """CRM key -> (digest, the ERP id an unlinked record carries: ``None`` when linked)."""

    def __init__(self) -> None:
        self._file = tempfile.NamedTemporaryFile(prefix="tandem-reconcile-", suffix=".db")  # noqa: SIM115
        self._db = sqlite3.connect(self._file.name)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-16000;"
            "CREATE TABLE crm (key TEXT PRIMARY KEY, digest TEXT NOT NULL, ext TEXT)"
        )

    def __enter__(self) -> Spill:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        self._file.close()

    def add(self, rows: Sequence[tuple[str, str, str | None]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO crm VALUES (?, ?, ?)", rows)

    def take(self, keys: Sequence[str]) -> dict[str, str]:
        """The digests of those of ``keys`` kept, which are no longer kept."""
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _LOOKUP):
            chunk = unique[start : start + _LOOKUP]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, digest FROM crm WHERE key IN ({marks})", chunk)
            found.update(rows.fetchall())
            self._db.execute(f"DELETE FROM crm WHERE key IN ({marks})", chunk)
        return found

    def pages(self, size: int) -> Iterator[list[tuple[str, str, str | None]]]:
        """What is left, ``size`` records at a time, in key order."""
        after = ""
        while True:
            rows = self._db.execute(
                "SELECT key, digest, ext FROM crm WHERE key > ? ORDER BY key LIMIT ?",
                (after, size),
            ).fetchall()
            if not rows:
                return
            yield rows
            after = rows[-1][0]


__all__ = ["Spill"]
