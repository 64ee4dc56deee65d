"""What each system holds now in the fields of conflicts: `tandem conflicts list --current`,
and the fresh read `conflicts resolve` decides on (:mod:`tandem.pipeline.resolve`).

A conflict keeps the values both systems held when it was raised; while it is open its field
is held (no pass writes it), but a person may still edit it in either system. This reads the
records of the conflicts from both systems, one read per entity and system, and gives each
side's canonical value of the conflict's field as it is now, the value `conflicts resolve
--erp/--crm` would write. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

from tandem.config import Side
from tandem.errors import MappingError
from tandem.pipeline.engine import Engine
from tandem.pipeline.refs import StoreRefResolver
from tandem.store import Conflict

NowState = Literal["value", "gone", "unreadable", "unset"]


@dataclass(frozen=True, slots=True)
class Now:
    """A system's value of a conflict's field, as read now.

    Attributes:
        state: ``value`` (read), ``gone`` (the record is no longer there), ``unreadable`` (the
            record does not map: :attr:`message` says why), ``unset`` (the record has no
            value for the field, or the conflict names no record on this side).
        value: the canonical value, when ``state`` is ``value``.
        message: why the record cannot be read, when ``unreadable``.
        modified_at: the record's modified-at as read, when it was read (``value``,
            ``unreadable``, or ``unset`` with a record).
    """

    state: NowState
    value: Any = None
    message: str = ""
    modified_at: datetime | None = None

    def show(self) -> str:
        """The value for a person (:func:`shown`), or the state in parentheses."""
        if self.state == "value":
            return shown(self.value)
        if self.state == "unreadable":
            return f"(unreadable: {self.message})"
        return f"({self.state})"


def shown(value: Any) -> str:
    """A field's value for a person: text quoted (so blanks and spaces show), numbers, dates
    and instants as written in ISO 8601 or plain digits (``3000.10``, ``2023-01-01``), not as
    Python's ``Decimal('3000.10')``; ``null`` for no value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    return repr(value)


async def current_values(
    engine: Engine, conflicts: Sequence[Conflict]
) -> dict[int, dict[Side, Now]]:
    """Each conflict's field as both systems hold it now, by conflict id.

    Raises:
        ConfigError: a conflict names an entity the flow no longer has.
        ConnectorError: a system could not be read.
    """
    wanted: dict[tuple[str, Side], set[str]] = {}
    for conflict in conflicts:
        for side, key in _keys(conflict):
            if key is not None:
                wanted.setdefault((conflict.entity, side), set()).add(key)
    read: dict[tuple[str, Side, str], _Read | None] = {}
    for (entity, side), keys in wanted.items():
        ctx = engine.context(entity)
        ordered = sorted(keys)
        found = await engine.systems.of(side).read_records(ctx.bindings[side], ordered)
        refs = StoreRefResolver(engine.store)
        refs.prefetch_rows(ctx.spec, side, [change.fields for change in found.values()])
        for key in ordered:
            change = found.get(key)
            if change is None:
                read[(entity, side, key)] = None
                continue
            mapped: dict[str, Any] | MappingError
            try:
                mapped = engine.mapper.to_canonical(ctx.spec, side, change.fields, key, refs)
            except MappingError as exc:
                mapped = exc
            read[(entity, side, key)] = (mapped, change.modified_at)
    return {
        conflict.id: {side: _now(conflict, read, side, key) for side, key in _keys(conflict)}
        for conflict in conflicts
    }


_Read = tuple[dict[str, Any] | MappingError, datetime | None]
"""A record read: its canonical values (or why it does not map) and its modified-at."""


def _keys(conflict: Conflict) -> tuple[tuple[Side, str | None], tuple[Side, str | None]]:
    return (("erp", conflict.erp_key), ("crm", conflict.crm_key))


def _now(
    conflict: Conflict,
    read: dict[tuple[str, Side, str], _Read | None],
    side: Side,
    key: str | None,
) -> Now:
    if key is None:
        return Now("unset")
    found = read[(conflict.entity, side, key)]
    if found is None:
        return Now("gone")
    values, modified_at = found
    if isinstance(values, MappingError):
        return Now("unreadable", message=str(values), modified_at=modified_at)
    if conflict.field not in values:
        return Now("unset", modified_at=modified_at)
    return Now("value", values[conflict.field], modified_at=modified_at)


__all__ = ["Now", "current_values"]
