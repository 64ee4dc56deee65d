"""Guarded updates: sObject Rows PATCHes with ``If-Unmodified-Since``, 25 to a Composite call.

An update carrying a :class:`~tandem.connectors.base.WriteGuard` must not land on a record
edited since the pipeline read it. sObject Collections and Bulk jobs take no precondition;
sObject Rows does (``If-Unmodified-Since``: ``412 Precondition Failed``, nothing written, when
the record was modified after the date). So each such update (there are few: records whose
field both systems edit was read) is a ``PATCH sobjects/{type}/{id}`` of its own, carrying
the header in its subrequest's ``httpHeaders``, and up to 25 of them share one Composite
call (``allOrNone: false``; one API call for all). Every other write goes as before.

The header is an HTTP-date of whole seconds, compared with the record's last modified date
(RFC 7232 compares a ``Last-Modified`` of whole seconds too). The date sent is the second of
the ``SystemModstamp`` read, taken down to the second; an edit made *within that same
second*, after the read, would not be seen. So the connector makes sure some read saw the
record unchanged once that second was over: the pipeline's own read when the org's clock
was past it then (:attr:`WriteGuard.read_at`), else a read made here after waiting for the
org's clock to pass it (at most :data:`MAX_WAIT` seconds; one query for all such records of
the batch). Any edit after that read falls in a later second than the date sent: a 412.

On a 412 the record is read again. Changed: the outcome says ``changed`` and nothing was
written. Unchanged after all (an org that compares finer than a second: a record modified
at 10:00:05.300 against ``10:00:05``), the update is sent once more with the next second,
which a read made after that second has cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableSequence, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

from tandem.connectors.base import (
    CHANGED_MEANWHILE,
    Change,
    EntityBinding,
    WriteGuard,
    WriteOp,
    WriteOutcome,
)
from tandem.connectors.salesforce.client import RecordError, SalesforceClient, SaveResult
from tandem.connectors.salesforce.errors import detail_from_item
from tandem.connectors.salesforce.records import outcome
from tandem.errors import RecordRejected, Retriable

__all__ = ["CHANGED", "COMPOSITE_LIMIT", "MAX_WAIT", "is_guarded", "write_guarded"]

logger = logging.getLogger(__name__)

CHANGED = CHANGED_MEANWHILE
"""The code of a guarded update's outcome when the record changed since it was read."""

PRECONDITION_FAILED = "PRECONDITION_FAILED"
"""What a 412 answer is read as (Salesforce documents the status, not a body)."""

COMPOSITE_LIMIT = 25
"""Subrequests per Composite call."""

MAX_WAIT = 2.0
"""Seconds waited at most for the org's clock to leave the second of a record's stamp."""

_SECOND = timedelta(seconds=1)

Read = Callable[[EntityBinding, Sequence[str]], Awaitable[dict[str, Change]]]
Build = Callable[[WriteOp, str], dict[str, Any]]


@dataclass(slots=True)
class _Patch:
    """One guarded update on its way: the op's index, its record, the date it is sent with."""

    index: int
    op: WriteOp
    record: dict[str, Any]
    since: datetime
    again: bool = False


def is_guarded(op: WriteOp) -> bool:
    """Whether ``op`` goes alone with ``If-Unmodified-Since`` (an update whose guard has a
    stamp to send)."""
    guard = op.guard
    return (
        op.action == "update"
        and guard is not None
        and guard.modified_at is not None
        and bool(op.key)
    )


async def write_guarded(
    client: SalesforceClient,
    read: Read,
    binding: EntityBinding,
    build: Build,
    ops: Sequence[WriteOp],
    outcomes: MutableSequence[WriteOutcome | None],
) -> set[int]:
    """Write the guarded updates among ``ops``; their outcomes go into ``outcomes`` (by op
    index). Returns the indexes written here (the rest go in Collections or Bulk)."""
    picked = [i for i, op in enumerate(ops) if is_guarded(op)]
    if not picked:
        return set()
    operation = f"update {binding.source}"
    patches: list[_Patch] = []
    for i in picked:
        try:
            patches.append(_Patch(i, ops[i], build(ops[i], operation), _second(ops[i])))
        except RecordRejected as exc:
            outcomes[i] = WriteOutcome(ops[i].ref, False, error=exc)
    fresh = [p for p in patches if not _cleared(_guard(p.op))]
    if fresh:
        await _wait_past(client, [p.since for p in fresh])
        found = await read(binding, [str(p.op.key) for p in fresh])
        for p in fresh:
            now = found.get(str(p.op.key))
            if now is not None and not _as_read(now, _guard(p.op)):
                outcomes[p.index] = _changed(p.op, operation)
                patches.remove(p)
    while patches:
        refused = await _send(client, binding, patches, operation, outcomes)
        patches = await _finer(read, binding, refused, operation, outcomes)
    return set(picked)


async def _send(
    client: SalesforceClient,
    binding: EntityBinding,
    patches: Sequence[_Patch],
    operation: str,
    outcomes: MutableSequence[WriteOutcome | None],
) -> list[_Patch]:
    """Send ``patches`` in Composite calls; the ones answered 412 are returned."""
    refused: list[_Patch] = []
    for start in range(0, len(patches), COMPOSITE_LIMIT):
        chunk = list(patches[start : start + COMPOSITE_LIMIT])

        async def once(part: list[_Patch]) -> list[SaveResult]:
            return await _composite(client, binding, part, operation)

        results = await client._with_lock_retry(chunk, operation, once)
        for p, result in zip(chunk, results, strict=True):
            if not result.success and result.errors[0].code == PRECONDITION_FAILED:
                refused.append(p)
            else:
                outcomes[p.index] = outcome(p.op, result, binding, operation)
    return refused


async def _composite(
    client: SalesforceClient, binding: EntityBinding, part: Sequence[_Patch], operation: str
) -> list[SaveResult]:
    """One Composite call of guarded PATCHes; one result per patch (a 412 as its own code)."""
    version = client.settings.api_version
    requests = [
        {
            "method": "PATCH",
            "url": f"/services/data/v{version}/sobjects/{binding.source}/{p.op.key}",
            "referenceId": f"guarded{n}",
            "body": {k: v for k, v in p.record.items() if k != "Id"},
            "httpHeaders": {"If-Unmodified-Since": format_datetime(p.since, usegmt=True)},
        }
        for n, p in enumerate(part)
    ]
    body = await client.call(
        "POST",
        "composite",
        operation=operation,
        body={"allOrNone": False, "compositeRequest": requests},
    )
    answers = body.get("compositeResponse") if isinstance(body, dict) else None
    if not isinstance(answers, list) or len(answers) != len(part):
        raise Retriable(
            f"expected {len(part)} composite answers, got "
            f"{len(answers) if isinstance(answers, list) else type(answers).__name__}",
            system="salesforce",
            operation=operation,
        )
    return [_result(p, answer) for p, answer in zip(part, answers, strict=True)]


def _result(patch: _Patch, answer: Any) -> SaveResult:
    status = answer.get("httpStatusCode") if isinstance(answer, dict) else None
    if isinstance(status, int) and status < 300:
        return SaveResult(patch.op.key, True)
    if status == 412:
        return SaveResult(None, False, errors=(RecordError(PRECONDITION_FAILED, "modified"),))
    items = answer.get("body") if isinstance(answer, dict) else None
    errors = tuple(
        RecordError(d.code, d.message, d.fields)
        for d in (detail_from_item(e) for e in items or () if isinstance(e, dict))
    )
    message = f"HTTP {status}: refused without a reason"
    return SaveResult(None, False, errors=errors or (RecordError(None, message),))


async def _finer(
    read: Read,
    binding: EntityBinding,
    refused: Sequence[_Patch],
    operation: str,
    outcomes: MutableSequence[WriteOutcome | None],
) -> list[_Patch]:
    """Tell the 412s apart: a record changed since it was read is ``changed``; one still as
    read (the org compared finer than the header's second) goes once more, a second on."""
    if not refused:
        return []
    found = await read(binding, [str(p.op.key) for p in refused])
    again: list[_Patch] = []
    for p in refused:
        now = found.get(str(p.op.key))
        if p.again or now is None or not _as_read(now, _guard(p.op)):
            outcomes[p.index] = _changed(p.op, operation)
            continue
        logger.info(
            "salesforce %s %s: 412 on a record still as read (the org compares finer than a "
            "second): sent again with the next second",
            binding.source,
            p.op.key,
        )
        again.append(_Patch(p.index, p.op, p.record, p.since + _SECOND, again=True))
    return again


def _guard(op: WriteOp) -> WriteGuard:
    assert op.guard is not None  # is_guarded
    return op.guard


def _second(op: WriteOp) -> datetime:
    """The second of the stamp the guard read (what ``If-Unmodified-Since`` can say)."""
    stamp = _guard(op).modified_at
    assert stamp is not None  # is_guarded
    return stamp.replace(microsecond=0)


def _cleared(guard: WriteGuard) -> bool:
    """Whether the pipeline's read was made once the second of the stamp it read was over:
    then an edit after it falls in a later second, which the header catches."""
    stamp = guard.modified_at
    assert stamp is not None
    return guard.read_at is not None and guard.read_at >= stamp.replace(microsecond=0) + _SECOND


async def _wait_past(client: SalesforceClient, seconds: Sequence[datetime]) -> None:
    """Wait until the org's clock (a lower bound of it) is past each of ``seconds``."""
    due = max(seconds) + _SECOND
    now = client.clock.now()
    wait = MAX_WAIT if now is None else (due - now).total_seconds()
    if wait > 0:
        await client.sleep(min(wait, MAX_WAIT))


def _as_read(now: Change, guard: WriteGuard) -> bool:
    """Whether a record read again is still the one the guard read."""
    if now.modified_at != guard.modified_at:
        return False
    return all(now.fields.get(name) == value for name, value in guard.expected.items())


def _changed(op: WriteOp, operation: str) -> WriteOutcome:
    error = RecordRejected(
        f"record {op.ref}: modified in Salesforce since it was read; not written",
        system="salesforce",
        operation=operation,
        record=op.ref,
        code=CHANGED,
    )
    return WriteOutcome(op.ref, False, key=op.key, error=error, changed=True)
