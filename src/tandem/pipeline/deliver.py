"""Deliver: hand native write ops to a connector in batches and collect one outcome per op.

Transient failures are retried inside the connector's transport (backoff, Retry-After,
token refresh); what still fails here propagates, and the caller's batch is not committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from tandem.connectors.base import Connector, EntityBinding, Submitter, WriteOp, WriteOutcome
from tandem.pipeline.report import PassReport

Collect = Callable[[], Awaitable[list[WriteOutcome]]]
"""Gives the outcomes of writes handed over by :func:`submit`."""


async def deliver(
    connector: Connector,
    binding: EntityBinding,
    ops: Sequence[WriteOp],
    report: PassReport,
) -> list[WriteOutcome]:
    """Write ``ops`` through ``connector``; outcomes in op order."""
    return await (await submit(connector, binding, ops, report))()


class Handover:
    """Writes on their way to a target; calling it gives their outcomes, in op order.

    The hand-over itself (for a :class:`Submitter`: a Bulk job created, uploaded and closed,
    or a small group written through sObject Collections) runs as a task, so its network
    round trips overlap whatever the caller does next. :meth:`handed` waits for it.
    """

    def __init__(
        self,
        connector: Connector,
        ops: Sequence[WriteOp],
        handing: asyncio.Future[Collect],
    ) -> None:
        self._connector = connector
        self._ops = ops
        self._handing = handing

    async def handed(self) -> None:
        """Return once the target holds the writes; raise what handing them over raised."""
        await self._handing

    async def __call__(self) -> list[WriteOutcome]:
        pending = await self._handing
        return _checked(self._connector, self._ops, await pending())


async def submit(
    connector: Connector,
    binding: EntityBinding,
    ops: Sequence[WriteOp],
    report: PassReport,
) -> Handover:
    """Hand ``ops`` to ``connector``; the returned :class:`Handover` gives their outcomes.

    A :class:`Submitter` is handed the work by a task (it returns once the system has the
    work); any other connector's write starts at once as a task. Either way the caller may do
    other work before collecting.
    """
    if not ops:
        return Handover(connector, ops, _done(_nothing))
    report.write_calls += 1
    if isinstance(connector, Submitter):
        handing = asyncio.ensure_future(connector.submit_batch(binding, ops))
        await asyncio.sleep(0)  # let it start: its first request leaves before the caller goes on
        return Handover(connector, ops, handing)
    task = asyncio.ensure_future(connector.write_batch(binding, ops))

    async def written() -> list[WriteOutcome]:
        return await task

    return Handover(connector, ops, _done(written))


async def _nothing() -> list[WriteOutcome]:
    return []


def _done(collect: Collect) -> asyncio.Future[Collect]:
    """A future already holding ``collect``."""
    future: asyncio.Future[Collect] = asyncio.get_running_loop().create_future()
    future.set_result(collect)
    return future


def _checked(
    connector: Connector, ops: Sequence[WriteOp], outcomes: list[WriteOutcome]
) -> list[WriteOutcome]:
    if len(outcomes) != len(ops):
        answered = {o.ref for o in outcomes}
        missing = [op.ref for op in ops if op.ref not in answered]
        raise RuntimeError(
            f"{connector.system} answered {len(outcomes)} of {len(ops)} writes; "
            f"no answer for {missing[:5]}"
        )
    return outcomes


__all__ = ["Collect", "Handover", "deliver", "submit"]
