"""The other system's current values of records that changed a field both systems may edit.

Planning compares such a field with the target's value as it is now (a conflict, or who
wins). A target record with a value that cannot be mapped (a picklist value the value map
lacks, say) is read field by field as far as it maps. When the unreadable field is one the
source changed too, nobody can tell whether the two edits conflict: the source record is
dead-lettered (code ``PARTNER_UNREADABLE``) instead of written over the target's edit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tandem.config import EntitySpec, Side, other
from tandem.connectors.clock import SourceClock
from tandem.errors import MappingError
from tandem.mapping import Mapper, values_equal
from tandem.pipeline.apart import APART, base_of
from tandem.pipeline.context import EntityContext, Systems
from tandem.pipeline.outcome import DeadLetterNote
from tandem.pipeline.plan import Rules, SourceRecord, TargetRecord
from tandem.pipeline.refs import StoreRefResolver
from tandem.store import SyncedState

UNREADABLE = "PARTNER_UNREADABLE"
"""Dead-letter code of a record whose partner's value of a shared field cannot be read."""


def shared_changes(
    rules: Rules, values: Mapping[str, Any], base: Mapping[str, Any] | None, side: Side
) -> set[str]:
    """The fields both systems may edit whose value on ``side`` differs from the agreed one
    (for a field kept apart: from the value ``side`` was seen holding)."""
    if base is not None and APART in base:
        return {
            name
            for name, value in values.items()
            if rules.owner_of(name) == "both" and not _as_seen(value, *base_of(base, name, side))
        }
    agreed = base or {}
    return {
        name
        for name, value in values.items()
        if rules.owner_of(name) == "both"
        and (name not in agreed or not values_equal(value, agreed[name]))
    }


def _as_seen(value: Any, known: bool, was: Any) -> bool:
    return known and values_equal(value, was)


async def read_contested(
    systems: Systems,
    mapper: Mapper,
    refs: StoreRefResolver,
    ctx: EntityContext,
    source: Side,
    records: Sequence[SourceRecord],
    partners: Mapping[str, str],
    bases: Mapping[str, SyncedState],
) -> tuple[dict[str, TargetRecord], list[DeadLetterNote]]:
    """The target's current values of the linked ``records`` that changed a shared field.

    Returns:
        The target records by source key, and a note for each source record that cannot
        be planned because its partner's value of a field it changed cannot be read.
    """
    target = other(source)
    if not ctx.reads(target):
        return {}, []
    wanted: dict[str, SourceRecord] = {}
    changed: dict[str, set[str]] = {}
    for record in records:
        partner = partners.get(record.key)
        if record.deleted or partner is None:
            continue
        base = bases.get(record.key)
        names = shared_changes(ctx.rules, record.values, base.values if base else None, source)
        if names:
            wanted[partner] = record
            changed[record.key] = names
    if not wanted:
        return {}, []
    connector = systems.of(target)
    # taken before the read: a write guarded by what it read may need to know how fresh
    read_at = await connector.source_time() if isinstance(connector, SourceClock) else None
    found = await connector.read_records(ctx.bindings[target], list(wanted))
    refs.prefetch_rows(ctx.spec, target, (c.fields for c in found.values()))
    currents: dict[str, TargetRecord] = {}
    dead: list[DeadLetterNote] = []
    for partner, change in found.items():
        record = wanted[partner]
        try:
            values = mapper.to_canonical(ctx.spec, target, change.fields, partner, refs)
        except MappingError as exc:
            read, errors = readable(mapper, refs, ctx.spec, target, change.fields, partner, exc)
            blind = changed[record.key] if read is None else changed[record.key] & set(errors)
            if blind:
                name = min(blind)
                error = errors.get(name, exc)
                dead.append(_unreadable(source, record, target, partner, name, error))
                continue
            assert read is not None
            values = read
        currents[record.key] = TargetRecord(
            partner, values, change.modified_at, change.fields, read_at
        )
    return currents, dead


def readable(
    mapper: Mapper,
    refs: StoreRefResolver,
    spec: EntitySpec,
    side: Side,
    native: Mapping[str, Any],
    key: str,
    first: MappingError,
) -> tuple[dict[str, Any] | None, dict[str, MappingError]]:
    """The canonical values of a record that map, leaving out each field that does not.

    Returns:
        The values (``None`` when the record cannot be read even in part), and the error of
        each canonical field left out.
    """
    fields = dict(native)
    errors: dict[str, MappingError] = {}
    exc = first
    while True:
        specs = [f for f in spec.fields if f.field == exc.field or f.native(side) == exc.field]
        natives = [name for f in specs if (name := f.native(side)) is not None and name in fields]
        if not natives:  # an expression, a default or a field already left out: give up
            for f in specs:
                errors.setdefault(f.field, exc)
            return None, errors
        for f in specs:
            errors.setdefault(f.field, exc)
        for name in natives:
            del fields[name]
        try:
            values = mapper.to_canonical(spec, side, fields, key, refs)
        except MappingError as again:
            exc = again
            continue
        for name in errors:  # a default stands in for a field left out: not its value
            values.pop(name, None)
        return values, errors


def _unreadable(
    source: Side,
    record: SourceRecord,
    target: Side,
    partner: str,
    name: str,
    error: MappingError,
) -> DeadLetterNote:
    return DeadLetterNote(
        source,
        record.key,
        f"{name} changed here and may have changed in the {target} too, but the {target} "
        f"record {partner} cannot be read ({error}); fix it there, then retry",
        field=name,
        value=record.values.get(name),
        code=UNREADABLE,
        payload=dict(record.values),
    )


__all__ = ["UNREADABLE", "read_contested", "readable", "shared_changes"]
