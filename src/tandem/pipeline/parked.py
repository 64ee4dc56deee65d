"""Records parked until what they refer to is linked, taken up again by themselves.

A contact whose customer is not yet in the CRM cannot be written there: it goes to the
dead-letter queue under :attr:`UnlinkedReference.code`, naming the reference (its field and
value). Nothing about the contact itself was wrong, so no person should have to retry it:
at the start of each pass, every such letter whose reference now has a partner on the side it
was missing from is queued again (and marked ``retrying``), and the pass writes it. A letter
whose reference is still unlinked stays open and is looked at again next pass.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence

from tandem.config import Side, other
from tandem.errors import UnlinkedReference
from tandem.pipeline.context import EntityContext
from tandem.pipeline.refs import CRM_PREFIX, StoreRefResolver
from tandem.store import DeadLetter, StateStore

log = logging.getLogger(__name__)

LOOK_AT_MOST = 10_000
"""Parked letters looked at per pass (the oldest first); the rest wait for the next pass."""


def release_parked(store: StateStore, flow: str, contexts: Sequence[EntityContext]) -> int:
    """Queue again the parked records of ``flow`` whose reference is linked now.

    Returns:
        How many records were queued.
    """
    letters = store.dead_letters(
        flow=flow, status="open", code=UnlinkedReference.code, limit=LOOK_AT_MOST
    )
    if not letters:
        return 0
    specs = {ctx.name: ctx.spec for ctx in contexts}
    refs = StoreRefResolver(store)
    waiting: list[tuple[DeadLetter, str]] = []
    wanted: defaultdict[tuple[str, Side], set[str]] = defaultdict(set)
    for letter in letters:
        spec = specs.get(letter.entity)
        field = next((f for f in spec.fields if f.field == letter.field), None) if spec else None
        if field is None or field.ref is None or letter.value is None:
            continue
        waiting.append((letter, field.ref))
        value = letter.value
        if value.startswith(CRM_PREFIX):
            wanted[(field.ref, "crm")].add(value.removeprefix(CRM_PREFIX))
        else:
            wanted[(field.ref, "erp")].add(value)
    for (entity, side), keys in wanted.items():
        refs.prefetch(entity, side, keys)
    ready = [
        letter
        for letter, ref in waiting
        if refs.to_native(ref, other(letter.side), letter.value or "") is not None
    ]
    if not ready:
        return 0
    with store.transaction():
        for letter in ready:
            store.enqueue(
                flow=flow,
                entity=letter.entity,
                side=letter.side,
                record_keys=[letter.record_key],
                reason=f"dead letter {letter.id}: its {letter.field} is linked now",
            )
        store.set_dead_letter_status([letter.id for letter in ready], "retrying")
    log.info("%d parked record(s) queued again: what they refer to is linked now", len(ready))
    return len(ready)


__all__ = ["LOOK_AT_MOST", "release_parked"]
