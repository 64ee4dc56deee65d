"""What a pass or a reconcile keeps on disk to stay flat in memory: a SQLite scratch database
that nobody else reads (no journal, no sync), looked up by keys a chunk at a time."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator

LOOKUP = 500
"""Keys per ``IN`` lookup (under SQLite's variable limit)."""

PRAGMAS = "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
"""A scratch database is thrown away whole: nothing in it needs to survive a crash."""


def open_scratch(path: str, schema: str, *, cache_kib: int) -> sqlite3.Connection:
    """A scratch database at ``path`` (``""``: SQLite's private temporary database, gone
    when closed) with ``schema`` and a page cache of ``cache_kib``."""
    db = sqlite3.connect(path, check_same_thread=False)  # one owner, used in turn
    db.executescript(f"{PRAGMAS} PRAGMA cache_size=-{cache_kib};{schema}")
    return db


def key_chunks(keys: Iterable[str]) -> Iterator[list[str]]:
    """``keys`` without repeats, :data:`LOOKUP` at a time."""
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), LOOKUP):
        yield unique[start : start + LOOKUP]


def marks(chunk: list[str]) -> str:
    """The ``?`` placeholders of an ``IN`` list of ``chunk``."""
    return ",".join("?" * len(chunk))


__all__ = ["LOOKUP", "key_chunks", "marks", "open_scratch"]
