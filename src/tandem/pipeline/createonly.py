"""Fields the target sets only when it creates a record, kept out of its updates.

Some fields can be given a value on create but never changed (Salesforce's
``PricebookEntry.Pricebook2Id`` and ``Product2Id``: createable, not updateable); an update that
names one is refused whole (``INVALID_FIELD_FOR_INSERT_UPDATE``), whatever the value. The
planner knows nothing of that: a record linked to a partner the target already holds (by a
match key or its external ID, the state store new or lost) has no agreed values, so every
field is planned as an update, these too.

So the partners of the updates that set such a field are read (one read a batch, and only
for those: a quiet pass reads nothing), and a field whose value the partner holds already is
left out of the update. A partner that holds another value would have to be re-parented,
which the target refuses: the record is dead-lettered before any call, naming the field and
both values, instead of every field of it being refused by the target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tandem.config import Side
from tandem.connectors.base import WriteOp
from tandem.errors import MappingError
from tandem.mapping import values_equal

if TYPE_CHECKING:
    from tandem.pipeline.context import EntityContext, Systems
    from tandem.pipeline.outcome import PendingRecord

CODE = "CREATE_ONLY"
"""Dead-letter code of a record whose update would change a field set only on create."""


class CreateOnlyChange(MappingError):
    """An update would change a field the target sets only when it creates a record."""

    code = CODE


@dataclass(frozen=True, slots=True)
class CreateOnly:
    """The fields of one entity that its target sets on create and does not update."""

    target: Side
    source: str
    """The target's object (for messages)."""
    fields: Mapping[str, str]
    """Native field (as the flow names it) -> its canonical field."""


def create_only(ctx: EntityContext, target: Side) -> CreateOnly | None:
    """The mapped fields of ``target`` that an update may not set (``None``: there are none).

    Every field the target's description says is not updateable counts: a create-only one,
    and a read-only one a flow checked against nothing would write.
    """
    schema = ctx.schemas.get(target)
    if schema is None:
        return None
    fixed = {info.name.lower() for info in schema.fields.values() if not info.updateable}
    if not fixed:
        return None
    fields: dict[str, str] = {}
    for spec in ctx.spec.fields:
        native = spec.native(target)
        if native is not None and native.lower() in fixed:
            fields[native] = spec.field
    return CreateOnly(target, schema.source, fields) if fields else None


async def read_partners(
    systems: Systems, ctx: EntityContext, fixed: CreateOnly, plans: Sequence[PendingRecord]
) -> dict[str, Mapping[str, Any]]:
    """Partner key -> its native values, for the planned updates that set a field of ``fixed``.

    A partner read for planning already (its contested fields) is not read again; one that is
    gone is left out.
    """
    canonical = frozenset(fixed.fields.values())
    found: dict[str, Mapping[str, Any]] = {}
    wanted: list[str] = []
    for pending in plans:
        intent = pending.plan.target
        if intent is None or intent.action != "update" or intent.key is None:
            continue
        if canonical.isdisjoint(intent.values):
            continue
        current = pending.current
        if current is not None and current.key == intent.key:
            found[intent.key] = current.native
        else:
            wanted.append(intent.key)
    if wanted:
        read = await systems.of(fixed.target).read_records(ctx.bindings[fixed.target], wanted)
        found.update((key, change.fields) for key, change in read.items() if not change.deleted)
    return found


def leave_out_unchanged(
    op: WriteOp, fixed: CreateOnly, partner: Mapping[str, Any] | None, record_key: str
) -> WriteOp:
    """``op`` without the fields of ``fixed`` whose value its partner holds already.

    Args:
        op: a native write; only an ``update`` is changed.
        fixed: the entity's fields the target does not update.
        partner: the partner's native values as read (``None``: not found).
        record_key: the source record's key, for the error.

    Raises:
        CreateOnlyChange: the update would change such a field (or the partner could not be
            read to tell): the target would refuse the whole update.
    """
    if op.action != "update":
        return op
    names = [name for name in op.values if name in fixed.fields]
    if not names:
        return op
    values = dict(op.values)
    for name in names:
        value = values.pop(name)
        if partner is None or name not in partner or not values_equal(value, partner[name]):
            raise _refusal(fixed, op, name, value, partner, record_key)
    return replace(op, values=values)


def _refusal(
    fixed: CreateOnly,
    op: WriteOp,
    name: str,
    value: Any,
    partner: Mapping[str, Any] | None,
    record_key: str,
) -> CreateOnlyChange:
    where = f"{fixed.source}.{name} is set only when a record is created"
    linked = f"the linked {fixed.target.upper()} record {op.key}"
    if partner is None or name not in partner:
        why = f"{linked} could not be read to tell whether it holds {value!r}"
    else:
        why = (
            f"{linked} holds {partner[name]!r}: it cannot be moved to {value!r} (re-create it, "
            "or link the record to the right one)"
        )
    return CreateOnlyChange(
        f"{where}, and {why}", record=record_key, field=fixed.fields[name], value=value
    )


__all__ = [
    "CODE",
    "CreateOnly",
    "CreateOnlyChange",
    "create_only",
    "leave_out_unchanged",
    "read_partners",
]
