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


async def submit(
    connector: Connector,
    binding: EntityBinding,
    ops: Sequence[WriteOp],
    report: PassReport,
) -> Collect:
    """Hand ``ops`` to ``connector``; the returned coroutine function gives their outcomes.

    A :class:`Submitter` returns once the system has the work; any other connector's write
    starts at once as a task. Either way the caller may do other work before collecting.
    """
    if not ops:

        async def nothing() -> list[WriteOutcome]:
            return []

        return nothing
    report.write_calls += 1
    if isinstance(connector, Submitter):
        pending = await connector.submit_batch(binding, ops)
    else:
        task = asyncio.ensure_future(connector.write_batch(binding, ops))

        async def pending() -> list[WriteOutcome]:
            return await task

    async def collect() -> list[WriteOutcome]:
        return _checked(connector, ops, await pending())

    return collect


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


__all__ = ["Collect", "deliver", "submit"]
