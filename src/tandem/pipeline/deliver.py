"""Deliver: hand native write ops to a connector in batches and collect one outcome per op.

Transient failures are retried inside the connector's transport (backoff, Retry-After,
token refresh); what still fails here propagates, and the caller's batch is not committed.
"""

from __future__ import annotations

from collections.abc import Sequence

from tandem.connectors.base import Connector, EntityBinding, WriteOp, WriteOutcome
from tandem.pipeline.report import PassReport


async def deliver(
    connector: Connector,
    binding: EntityBinding,
    ops: Sequence[WriteOp],
    report: PassReport,
) -> list[WriteOutcome]:
    """Write ``ops`` through ``connector``; outcomes in op order."""
    if not ops:
        return []
    outcomes = await connector.write_batch(binding, ops)
    report.write_calls += 1
    if len(outcomes) != len(ops):
        answered = {o.ref for o in outcomes}
        missing = [op.ref for op in ops if op.ref not in answered]
        raise RuntimeError(
            f"{connector.system} answered {len(outcomes)} of {len(ops)} writes; "
            f"no answer for {missing[:5]}"
        )
    return outcomes


__all__ = ["deliver"]
