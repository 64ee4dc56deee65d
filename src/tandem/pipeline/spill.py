"""The scratch file of a reconcile, on disk: memory stays bounded whatever the volume.

It holds the CRM side of an entity's scan (each CRM record's key, the digest of its compared
values and, when it is not linked, the ERP id it carries) and the drifts that must outlive
the moment they are found (the differing pairs waiting for their fields to be named, the
unlinked ERP records waiting for a CRM record that carries their id, the drifts to heal and
those queued for repair), in a temporary SQLite file that is gone when closed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType

from tandem.pipeline.recheck import Drift
from tandem.pipeline.scratch import key_chunks, marks, open_scratch

_SCHEMA = """
CREATE TABLE crm (key TEXT PRIMARY KEY, digest TEXT NOT NULL, ext TEXT);
CREATE TABLE drift (
    seq INTEGER PRIMARY KEY, bin TEXT NOT NULL, entity TEXT NOT NULL, kind TEXT NOT NULL,
    erp_key TEXT, crm_key TEXT, message TEXT NOT NULL
);
CREATE INDEX drift_bin ON drift (bin, erp_key);
"""


class Spill:
    """CRM key -> (digest, the ERP id an unlinked record carries: ``None`` when linked), and
    drifts kept in named bins, in the order they were put."""

    def __init__(self) -> None:
        self._file = tempfile.NamedTemporaryFile(prefix="tandem-reconcile-", suffix=".db")  # noqa: SIM115
        self._db = open_scratch(self._file.name, _SCHEMA, cache_kib=16000)

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
        for chunk in key_chunks(keys):
            where = f"key IN ({marks(chunk)})"
            found.update(self._db.execute(f"SELECT key, digest FROM crm WHERE {where}", chunk))
            self._db.execute(f"DELETE FROM crm WHERE {where}", chunk)
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

    def clear(self) -> None:
        """Forget the CRM side (the next entity's scan starts empty)."""
        self._db.execute("DELETE FROM crm")

    def put(self, bin_: str, drifts: Iterable[Drift]) -> None:
        """Keep ``drifts`` in ``bin_`` (their fields are not kept)."""
        self._db.executemany(
            "INSERT INTO drift (bin, entity, kind, erp_key, crm_key, message) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            ((bin_, d.entity, d.kind, d.erp_key, d.crm_key, d.message) for d in drifts),
        )

    def claim(self, bin_: str, erp_key: str, message: str, moved_to: str) -> bool:
        """Move the drift of ``erp_key`` in ``bin_`` to ``moved_to`` with ``message``; whether
        there was one (each is claimed once)."""
        done = self._db.execute(
            "UPDATE drift SET bin = ?, message = ? WHERE bin = ? AND erp_key = ?",
            (moved_to, message, bin_, erp_key),
        )
        return done.rowcount > 0

    def drifts(self, bins: Sequence[str], size: int) -> Iterator[list[Drift]]:
        """The drifts of ``bins``, ``size`` at a time in the order they were put; each page is
        read only once the previous one was handled."""
        marks = ",".join("?" * len(bins))
        after = 0
        while True:
            rows = self._db.execute(
                "SELECT seq, entity, kind, erp_key, crm_key, message FROM drift "
                f"WHERE bin IN ({marks}) AND seq > ? ORDER BY seq LIMIT ?",
                (*bins, after, size),
            ).fetchall()
            if not rows:
                return
            yield [Drift(e, k, ek, ck, message=m) for _, e, k, ek, ck, m in rows]
            after = rows[-1][0]

    def drop(self, bins: Sequence[str]) -> None:
        """Forget the drifts of ``bins``."""
        marks = ",".join("?" * len(bins))
        self._db.execute(f"DELETE FROM drift WHERE bin IN ({marks})", tuple(bins))


__all__ = ["Spill"]
