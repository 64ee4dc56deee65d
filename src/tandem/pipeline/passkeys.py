"""What a pass remembers per record, kept bounded: the first few thousand records in memory,
the rest in a temporary SQLite file.

A pass that drains a large work queue (a reconcile ``--heal`` of 100,000 drifted records)
remembers, for the whole pass, every record it took (none is taken twice) and the version of
each it tried (the capture does not try it again). Held in memory, that grows with the
records queued; past :data:`IN_MEMORY` records it goes to a scratch file that is gone when
the pass ends. Lookups are batched (one query per
:data:`~tandem.pipeline.scratch.LOOKUP` keys asked about), and a pass that remembers
nothing, or no more than :data:`IN_MEMORY` records, never opens a file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from types import TracebackType

from tandem.pipeline.scratch import key_chunks, marks, open_scratch

IN_MEMORY = 2_000
"""Records kept in memory; those remembered beyond them are kept on disk."""

_SCHEMA = """
CREATE TABLE kept (
    entity TEXT NOT NULL, side TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY (entity, side, key)
) WITHOUT ROWID;
"""


class PassKeys:
    """(entity, side, record key) -> a value, for one pass.

    A value that is :class:`bytes` may be kept on disk; any other value (rare: see
    :mod:`tandem.pipeline.tried`) always stays in memory. A key is kept in one place only.
    Close it (or use it as a context manager) to remove its file at once; else it goes when
    the object is collected. The file is SQLite's private temporary database: it has no
    name in the file system, so not even a crash leaves it behind.
    """

    def __init__(self, *, in_memory: int | None = None) -> None:
        self._limit = IN_MEMORY if in_memory is None else in_memory
        self._memory: dict[tuple[str, str, str], object] = {}
        self._db: sqlite3.Connection | None = None

    def __bool__(self) -> bool:
        # once on disk, it counts as not empty (a lookup then asks the file) until closed
        return bool(self._memory) or self._db is not None

    def __enter__(self) -> PassKeys:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def spilled(self) -> bool:
        """Whether some records are kept on disk."""
        return self._db is not None

    def close(self) -> None:
        """Forget everything and remove the file, if there was one."""
        self._memory.clear()
        if self._db is not None:
            self._db.close()
            self._db = None

    def get(self, entity: str, side: str, keys: Iterable[str]) -> dict[str, object]:
        """The values kept of those of ``keys`` that are kept."""
        memory = self._memory
        found: dict[str, object] = {}
        missing: list[str] = []
        for key in keys:
            value = memory.get((entity, side, key), _ABSENT)
            if value is not _ABSENT:
                found[key] = value
            elif self._db is not None:
                missing.append(key)
        if self._db is not None and missing:
            for chunk in key_chunks(missing):
                rows = self._db.execute(
                    "SELECT key, value FROM kept WHERE entity = ? AND side = ? "
                    f"AND key IN ({marks(chunk)})",
                    (entity, side, *chunk),
                )
                found.update(rows.fetchall())
        return found

    def put(self, entity: str, side: str, values: Iterable[tuple[str, object]]) -> None:
        """Keep (or replace) the value of each key."""
        memory = self._memory
        to_disk: list[tuple[str, str, str, bytes]] = []
        off_disk: list[str] = []
        for key, value in values:
            at = (entity, side, key)
            if at in memory or (self._db is None and len(memory) < self._limit):
                memory[at] = value
            elif isinstance(value, bytes):
                to_disk.append((entity, side, key, value))
            else:  # cannot go to disk: kept in memory, whatever the file held of it
                memory[at] = value
                off_disk.append(key)
        if to_disk:
            self._open().executemany("INSERT OR REPLACE INTO kept VALUES (?, ?, ?, ?)", to_disk)
        if off_disk:  # after the inserts: a key put twice ends where its last value is
            self._delete(entity, side, off_disk)

    def discard(self, entity: str, side: str, keys: Iterable[str]) -> None:
        """Forget the values of ``keys`` (those not kept are ignored)."""
        memory = self._memory
        elsewhere = [key for key in keys if memory.pop((entity, side, key), _ABSENT) is _ABSENT]
        if elsewhere:
            self._delete(entity, side, elsewhere)

    def _delete(self, entity: str, side: str, keys: Sequence[str]) -> None:
        if self._db is None:
            return
        for chunk in key_chunks(keys):
            self._db.execute(
                f"DELETE FROM kept WHERE entity = ? AND side = ? AND key IN ({marks(chunk)})",
                (entity, side, *chunk),
            )

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            # "": a private temporary database, on disk past its page cache, gone when closed
            self._db = open_scratch("", _SCHEMA, cache_kib=2000)
        return self._db


_ABSENT = object()


__all__ = ["IN_MEMORY", "PassKeys"]
