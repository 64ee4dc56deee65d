"""How far back the ERP's change log may be pruned without losing a change the flow reads.

The change-log triggers add an entry for every write of a captured table, so the log grows
until pruned. An entry is needed until every entity that reads the ERP's changes has read past
it, overlap window included: its cursor minus ``overlap_seconds``. An entity that has not
synced yet starts from the log's beginning (the seed of every existing row), so nothing may go
before its first pass. A retention period keeps more, for a flow reset or a look back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tandem.config import FlowSpec
from tandem.errors import TandemError
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


async def prune_capture(
    flow: FlowSpec, store: StateStore, erp: Any, keep: timedelta, *, dry_run: bool = False
) -> tuple[PruneHorizon, int | None]:
    """Prune ``erp``'s change log to the flow's :func:`prune_horizon` (``erp``: an open
    connector with ``prune_capture``).

    Returns:
        The horizon, and how many entries went (``None``: none was asked to go, the horizon
        being unknown yet or ``dry_run``).
    """
    horizon = prune_horizon(flow, store, datetime.now(UTC), keep)
    if horizon.before is None or dry_run:
        return horizon, None
    return horizon, int(await erp.prune_capture(horizon.before))


def describe(horizon: PruneHorizon, keep: timedelta) -> str:
    """What set ``horizon``, in words."""
    if horizon.before is None:
        return (
            f"entity {horizon.by} has not read the ERP's changes yet (its first sync reads the "
            "change log from its beginning)"
        )
    if horizon.by == "retention":
        return f"the {keep / timedelta(days=1):g}-day retention"
    return f"entity {horizon.by}'s cursor, less its overlap"


log = logging.getLogger(__name__)

PRUNE_EVERY = 86400.0
"""Seconds between prunes of the ERP's change log in ``tandem run`` (``prune_capture_days``)."""


async def prune_while_running(flow: FlowSpec, store: StateStore, erp: Any) -> None:
    """The daily prune of ``tandem run``: logged, never stopping the run (a failure is the
    next day's to retry)."""
    if flow.prune_capture_days is None or getattr(erp, "prune_capture", None) is None:
        return
    keep = timedelta(days=flow.prune_capture_days)
    try:
        horizon, pruned = await prune_capture(flow, store, erp, keep)
    except TandemError as exc:
        log.warning("flow %s: the ERP's change log was not pruned: %s", flow.name, exc)
        return
    if pruned is None:
        log.info("flow %s: change log not pruned: %s", flow.name, describe(horizon, keep))
        return
    log.info(
        "flow %s: %d change-log entries before %s pruned (set by %s)",
        flow.name,
        pruned,
        horizon.before,
        describe(horizon, keep),
    )


__all__ = [
    "PRUNE_EVERY",
    "PruneHorizon",
    "describe",
    "prune_capture",
    "prune_horizon",
    "prune_while_running",
]
