"""What a pass did (or, in a dry run, would do), counted per entity and direction."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tandem.config import Side

COUNTERS = (
    "read",
    "created",
    "updated",
    "deleted",
    "reverted",
    "linked",
    "unchanged",
    "dead_lettered",
    "conflicts",
    "changed_meanwhile",
)


@dataclass(slots=True)
class PlannedChange:
    """One write a dry run would make."""

    entity: str
    source: Side
    target: Side
    source_key: str
    target_key: str | None
    action: str
    fields: dict[str, Any]


@dataclass(slots=True)
class PassReport:
    """Counters of one pass: ``counts[entity][f"{source}->{target}"][counter]``."""

    counts: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    planned: list[PlannedChange] = field(default_factory=list)
    field_changes: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """In a dry run: (entity, system written, canonical field) -> records it would change."""
    write_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, entity: str, source: Side, counter: str, n: int = 1) -> None:
        """Add ``n`` to one counter (safe from a worker thread: a batch commits on one)."""
        target = "crm" if source == "erp" else "erp"
        direction = f"{source}->{target}"
        with self._lock:
            self.counts.setdefault(entity, {}).setdefault(direction, Counter())[counter] += n

    def total(self, counter: str) -> int:
        """A counter summed over every entity and direction."""
        return sum(c[counter] for per in self.counts.values() for c in per.values())

    @property
    def writes(self) -> int:
        """Records written (created, updated, deleted or reverted) in either system."""
        return sum(self.total(c) for c in ("created", "updated", "deleted", "reverted"))

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for JSON output."""
        return {
            "counts": {
                entity: {direction: dict(c) for direction, c in per.items()}
                for entity, per in self.counts.items()
            },
            "write_calls": self.write_calls,
        }


__all__ = ["COUNTERS", "PassReport", "PlannedChange"]
