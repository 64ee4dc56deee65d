"""First linking: find the record a new source record already has in the target.

Before the first sync of an entity, the target's unlinked records are indexed by the flow's
match keys (tax ID, e-mail, ERP number: never the name alone). A source record whose match
key is in the index is linked to that record instead of creating a duplicate. The index
holds only keys, not records, so memory stays small.

At any time, an unlinked record whose own external-ID field names a partner that exists and
is linked to no other record is linked to it (:func:`claim_named`). A key named in another
form than the target's reads answer with (a Salesforce Id in its 15-character form) is taken in
that form first, by the target's :class:`~tandem.connectors.base.KeyNormaliser`, the form the
links hold.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import TYPE_CHECKING, Any

from tandem.config import Side, other
from tandem.connectors.base import Change, KeyNormaliser, WriteOp

if TYPE_CHECKING:
    from tandem.pipeline.context import EntityContext, Systems
    from tandem.pipeline.outcome import PendingRecord
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


@dataclass(frozen=True, slots=True)
class Claims:
    """What :func:`claim_named` linked."""

    links: dict[str, str] = dc_field(default_factory=dict)
    """Source key -> the target key it claimed."""
    owed: frozenset[str] = frozenset()
    """Source keys whose claimed partner's external-ID field does not name them (empty, or
    another key): the partner is owed that one-field write."""


async def claim_named(
    store: StateStore,
    systems: Systems,
    ctx: EntityContext,
    source: Side,
    changes: Mapping[str, Change],
    partners: dict[str, str],
) -> Claims:
    """Link the unlinked records whose own external-ID field names a partner that exists in
    the target and is linked to no other record; the links made (also added to ``partners``).

    Such a record was written by Tandem (or an earlier integration) and its link was never
    committed: a pass that died after creating it and before its state was saved. Planned as
    new, it would be created a second time in the target. One read of the named keys.

    The claims also tell which partners do not name their claimer back in their own
    external-ID field (:attr:`Claims.owed`): the pass that died owed them that write.
    """
    field = ctx.bindings[source].external_id
    if not field:
        return Claims()
    target = other(source)
    # a key the target names in several forms (a 15-character Salesforce Id) is found in any,
    # but keyed, like the links, by the form its reads answer with
    connector = systems.of(target)
    form = connector.normalise_key if isinstance(connector, KeyNormaliser) else str
    named: dict[str, str] = {}
    for key, change in changes.items():
        if change.deleted or key in partners:
            continue
        value = change.fields.get(field)
        if value is not None and str(value) != "":
            named[key] = form(str(value))
    if not named:
        return Claims()
    wanted = sorted(set(named.values()))
    taken = store.partners(ctx.name, target, wanted)
    free = [key for key in wanted if key not in taken]
    if not free:
        return Claims()
    back = ctx.bindings[target].external_id
    found = await connector.read_records(ctx.bindings[target], free)
    made: dict[str, str] = {}
    owed: set[str] = set()
    claimed: set[str] = set()
    for key, partner in named.items():
        there = found.get(partner)
        if there is None or there.deleted or partner in claimed:
            continue
        claimed.add(partner)
        made[key] = partner
        if back and str(there.fields.get(back) or "") != key:
            owed.add(key)
    partners.update(made)
    return Claims(made, frozenset(owed))


def owed_keys(
    ctx: EntityContext, target: Side, plans: Sequence[PendingRecord], owed: frozenset[str]
) -> list[WriteOp]:
    """One-field writes of the claimer's key to the claimed partners that are owed it.

    A claimed partner that the plan sends nothing (every field is the target's, or agreed)
    would never be given the key the normal path writes with every create and update: a
    record created in the CRM and inserted in the ERP, whose pass died before the ERP id
    went back, would keep an empty ``ERP_Id__c``. The write is set as the record's
    ``target_op``, so its outcome settles with the batch: refused, the record is not
    committed and is claimed again later.
    """
    field = ctx.bindings[target].external_id
    if not field or not owed:
        return []
    ops: list[WriteOp] = []
    for pending in plans:
        key = pending.record.key
        partner = pending.plan.partner
        if key not in owed or partner is None or pending.failed:
            continue
        if pending.target_op is not None or pending.plan.target is not None:
            continue  # its create or update carries the key already
        op = WriteOp("update", key, {field: key}, key=partner)
        pending.target_op = op
        ops.append(op)
    return ops


__all__ = ["Claims", "MatchIndex", "claim_named", "normalise", "owed_keys"]
