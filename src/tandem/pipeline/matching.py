"""First linking: find the record a new source record already has in the target.

Before the first sync of an entity, the target's unlinked records are indexed by the flow's
match keys (tax ID, e-mail, ERP number: never the name alone). A source record whose match
key is in the index is linked to that record instead of creating a duplicate. The index
holds only keys, not records, so memory stays small.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any


def normalise(value: Any) -> str | None:
    """A match-key component: case-, accent-, space- and punctuation-insensitive."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKD", str(value)).casefold()
    kept = "".join(ch for ch in text if ch.isalnum())
    return kept or None


class MatchIndex:
    """Match key -> target key, each target record claimed at most once."""

    def __init__(self, fields: Sequence[str]) -> None:
        self.fields = tuple(fields)
        self._index: dict[tuple[str, ...], str] = {}
        self._ambiguous: set[tuple[str, ...]] = set()

    def key_of(self, values: Mapping[str, Any]) -> tuple[str, ...] | None:
        """The normalised match key of a canonical record, or None when a part is missing."""
        parts: list[str] = []
        for name in self.fields:
            part = normalise(values.get(name))
            if part is None:
                return None
            parts.append(part)
        return tuple(parts)

    def add(self, values: Mapping[str, Any], target_key: str) -> None:
        """Index one target record; a key seen twice is ambiguous and never matched."""
        key = self.key_of(values)
        if key is None or key in self._ambiguous:
            return
        if key in self._index:
            del self._index[key]
            self._ambiguous.add(key)
            return
        self._index[key] = target_key

    def claim(self, values: Mapping[str, Any]) -> str | None:
        """The target key matching ``values``, removed from the index so it links once."""
        key = self.key_of(values)
        if key is None:
            return None
        return self._index.pop(key, None)

    def __len__(self) -> int:
        return len(self._index)


__all__ = ["MatchIndex", "normalise"]
