"""Batches counted in new changes: what the overlap window re-reads rides along.

Each pass re-reads the overlap window behind the stored cursor (late commits land there). A
change read again that way is usually one already synced: it costs a look-up, never a write.
Counted like a new change it would push the last new ones into a batch of their own, and
that batch into a write call of its own. So a batch holds up to ``size`` changes past the
cursor, plus the re-read ones, at most ``2 * size`` in all (memory stays bounded).

The first batch may be cut shorter (``first``): while it is planned the target has nothing to
do, so a long pass hands the target a small batch early and the full-size ones after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from tandem.connectors.base import Change, Cursor


async def fresh_batches(
    stream: AsyncIterator[Sequence[Change]],
    since: Cursor | None,
    size: int,
    first: int | None = None,
) -> AsyncIterator[list[Change]]:
    """Re-cut a connector's batches so that only changes past ``since`` count to ``size``
    (to ``first`` in the first batch, when given).

    An empty batch from the connector (nothing new) is passed on when nothing is pending.
    """
    pending: list[Change] = []
    fresh = 0
    limit = size if first is None else max(1, min(first, size))
    async for batch in stream:
        if not batch:
            if not pending:
                yield []
            continue
        for change in batch:
            pending.append(change)
            if since is None or change.cursor > since:
                fresh += 1
            if fresh >= limit or len(pending) >= 2 * size:
                yield pending
                pending, fresh, limit = [], 0, size
    if pending:
        yield pending


__all__ = ["fresh_batches"]
