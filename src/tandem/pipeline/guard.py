"""Guarded writes: an update over a field both systems may edit is made only if the target
still holds what planning read.

Planning reads the target's current value of such a field (:mod:`.contested`) to tell a
conflict from an echo. An edit made in the target between that read and the write would be
overwritten unseen; so the write of such a record carries a :class:`WriteGuard` (the native
values read, the record's modified-at and when it was read), and a target that can check it
makes the write only if the record is still as read. Every other write goes as before, in
batches, unguarded: only the records whose contested fields were read (few) pay for it.

A guarded write that fails its guard is neither written, nor committed, nor dead-lettered:
its outcome says ``changed``, the batch commits without it, and the record is queued again
in the same transaction (:data:`REQUEUE_REASON`), so the next pass's drain re-reads it and
plans it against the target's new value: a conflict, settled by the flow's policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tandem.config import EntitySpec, Side
from tandem.connectors.base import WriteGuard, WriteOp
from tandem.pipeline.plan import Intent, Rules, TargetRecord

REQUEUE_REASON = "changed in the {target} while it was written: planned again"
"""The work-queue reason of a record whose guarded write found its target changed."""

COUNTER = "changed_meanwhile"
"""The report counter of guarded writes whose target changed meanwhile (planned again)."""


def guarded(
    spec: EntitySpec,
    rules: Rules,
    target: Side,
    intent: Intent,
    op: WriteOp,
    current: TargetRecord | None,
) -> WriteOp:
    """``op`` with a guard when it updates fields both systems may edit that were read.

    Args:
        spec: the entity.
        rules: its policies (who owns which field).
        target: the system written.
        intent: the planned write.
        op: its native op.
        current: the target's record as read for planning (``None``: not read).

    Returns:
        ``op`` itself when there is nothing to guard (not an update, nothing read, no field
        written that the target may edit), else a copy carrying the guard.
    """
    if op.action != "update" or current is None or intent.action != "update":
        return op
    expected = _expected(spec, rules, target, intent.values, op.values, current.native)
    if not expected:
        return op
    guard = WriteGuard(expected, current.modified_at, current.read_at)
    return replace(op, guard=guard)


def _expected(
    spec: EntitySpec,
    rules: Rules,
    target: Side,
    written: Mapping[str, Any],
    native_values: Mapping[str, Any],
    read: Mapping[str, Any],
) -> dict[str, Any]:
    """Native field -> value read, for the native fields the op sets of shared fields."""
    expected: dict[str, Any] = {}
    for field in spec.fields:
        if field.field not in written or rules.owner_of(field.field) != "both":
            continue
        name = field.native(target)
        if name is not None and name in native_values and name in read:
            expected[name] = read[name]
    return expected


__all__ = ["COUNTER", "REQUEUE_REASON", "guarded"]
