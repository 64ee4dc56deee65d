"""First linking: find the record a new source record already has in the target.

Before the first sync of an entity, the target's unlinked records are indexed by the flow's
match keys (tax ID, e-mail, ERP number: never the name alone). A source record whose match
key is in the index is linked to that record instead of creating a duplicate. The index
holds only keys, not records, so memory stays small.

At any time, an unlinked record whose own external-ID field names a partner that exists and
is linked to no other record is linked to it (:func:`claim_named`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tandem.config import Side, other
from tandem.connectors.base import Change

if TYPE_CHECKING:
    from tandem.pipeline.context import EntityContext, Systems
    from tandem.store import StateStore


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


async def claim_named(
    store: StateStore,
    systems: Systems,
    ctx: EntityContext,
    source: Side,
    changes: Mapping[str, Change],
    partners: dict[str, str],
) -> dict[str, str]:
    """Link the unlinked records whose own external-ID field names a partner that exists in
    the target and is linked to no other record; the links made (also added to ``partners``).

    Such a record was written by Tandem (or an earlier integration) and its link was never
    committed: a pass that died after creating it and before its state was saved. Planned as
    new, it would be created a second time in the target. One read of the named keys.
    """
    field = ctx.bindings[source].external_id
    if not field:
        return {}
    named: dict[str, str] = {}
    for key, change in changes.items():
        if change.deleted or key in partners:
            continue
        value = change.fields.get(field)
        if value is not None and str(value) != "":
            named[key] = str(value)
    if not named:
        return {}
    target = other(source)
    wanted = sorted(set(named.values()))
    taken = store.partners(ctx.name, target, wanted)
    free = [key for key in wanted if key not in taken]
    if not free:
        return {}
    found = await systems.of(target).read_records(ctx.bindings[target], free)
    made: dict[str, str] = {}
    claimed: set[str] = set()
    for key, partner in named.items():
        there = found.get(partner)
        if there is None or there.deleted or partner in claimed:
            continue
        claimed.add(partner)
        made[key] = partner
    partners.update(made)
    return made


__all__ = ["MatchIndex", "claim_named", "normalise"]
