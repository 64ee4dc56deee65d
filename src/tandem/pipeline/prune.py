"""How far back the ERP's change log may be pruned without losing a change the flow reads.

The change-log triggers add an entry for every write of a captured table, so the log grows
until pruned. An entry is needed until every entity that reads the ERP's changes has read past
it, overlap window included: its cursor minus ``overlap_seconds``. An entity that has not
synced yet starts from the log's beginning (the seed of every existing row), so nothing may go
before its first pass. A retention period keeps more, for a flow reset or a look back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tandem.config import FlowSpec
from tandem.store import StateStore


@dataclass(frozen=True, slots=True)
class PruneHorizon:
    """Entries stamped before :attr:`before` are read by no entity of the flow again.

    Attributes:
        before: the instant (UTC) before which entries may go; ``None``: none may go yet.
        by: what set it: ``"retention"``, or the entity whose cursor is furthest behind (or,
            with ``before`` ``None``, the entity that has not read the ERP's changes yet).
    """

    before: datetime | None
    by: str


def prune_horizon(
    flow: FlowSpec, store: StateStore, now: datetime, keep: timedelta
) -> PruneHorizon:
    """The earliest of ``now - keep`` and each ERP-reading entity's cursor minus its overlap;
    no instant at all while such an entity has no cursor yet."""
    horizon = PruneHorizon(now - keep, "retention")
    for spec in flow.ordered_entities():
        if not spec.writes_to("crm"):  # the ERP's changes of it are not read
            continue
        cursor = store.cursor(flow.name, spec.name, "erp")
        if cursor is None:  # its first sync reads the log from its beginning
            return PruneHorizon(None, spec.name)
        read_to = cursor.modified_at - timedelta(seconds=spec.overlap_seconds)
        if horizon.before is None or read_to < horizon.before:
            horizon = PruneHorizon(read_to, spec.name)
    return horizon


__all__ = ["PruneHorizon", "prune_horizon"]
