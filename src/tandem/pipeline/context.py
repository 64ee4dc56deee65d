"""What the pipeline holds for one entity during a run: spec, bindings, schemas, policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tandem.config import SIDES, EntitySpec, Side, other
from tandem.connectors.base import Connector, EntityBinding, EntitySchema
from tandem.errors import MappingError
from tandem.mapping import Mapper
from tandem.pipeline.plan import Rules


@dataclass(slots=True)
class Systems:
    """The two connected systems."""

    erp: Connector
    crm: Connector

    def of(self, side: Side) -> Connector:
        """The connector of ``side``."""
        return self.erp if side == "erp" else self.crm


@dataclass(slots=True)
class EntityContext:
    """One entity, ready to sync."""

    spec: EntitySpec
    rules: Rules
    bindings: Mapping[Side, EntityBinding]
    schemas: dict[Side, EntitySchema]

    @property
    def name(self) -> str:
        """The entity's name in the flow."""
        return self.spec.name

    def reads(self, side: Side) -> bool:
        """Whether changes are captured from ``side``: Tandem writes them to the other system."""
        return self.spec.writes_to(other(side))

    def flag(self, side: Side) -> tuple[str, Any] | None:
        """The native field and value the flag/archive delete policy sets in ``side``."""
        name = self.spec.delete.flag_field(side)
        return (name, self.spec.delete.value_on(side)) if name else None


def build_rules(spec: EntitySpec, mapper: Mapper) -> Rules:
    """The planner's view of an entity's policies."""
    return Rules(
        owner_of=spec.owner_of,
        default_owner=spec.owner if spec.owner != "both" else "crm",
        conflict=spec.conflict,
        delete=spec.delete.policy,
        flagged=flag_marks(spec, mapper),
        flag_values=flag_values(spec),
    )


def flag_values(spec: EntitySpec) -> dict[Side, Any]:
    """Per side where Tandem sets the delete-policy flag: the native value it sets.

    The flag field is read with every record of such a side (it is in the binding), mapped
    or not, so the planner can tell a survivor that stays flagged from one whose flag was
    cleared (:meth:`~tandem.pipeline.plan.Rules.still_flagged`).
    """
    return {
        side: spec.delete.value_on(side)
        for side in SIDES
        if spec.writes_to(side) and spec.delete.flag_field(side) is not None
    }


def flag_marks(spec: EntitySpec, mapper: Mapper) -> dict[Side, dict[str, Any]]:
    """Per side: the canonical values its delete-policy flag sets, where the flag is mapped.

    A flow may map the flag field itself (``active`` <-> ``IsActive``); the survivor of a
    delete is then read back holding the flag, which must count as agreed, not as a change.
    """
    marks: dict[Side, dict[str, Any]] = {}
    for side in SIDES:
        name = spec.delete.flag_field(side)
        if name is None:
            continue
        flagged = {f.field for f in spec.fields if f.native(side) == name}
        if not flagged:
            continue  # the flag is not mapped: a survivor reads back unchanged
        try:
            mark = {name: spec.delete.value_on(side)}
            values = mapper.to_canonical(spec, side, mark, "", NO_REFS)
        except MappingError:
            continue  # a flag value the mapping refuses is never read back as a value
        # only the fields read from the flag itself (a partial read also yields defaults)
        marks[side] = {f: v for f, v in values.items() if f in flagged}
    return marks


class _NoRefs:
    """A reference resolver for a single plain value: it resolves nothing."""

    def to_canonical(self, entity: str, side: Side, native_key: str) -> str | None:
        return None

    def to_native(self, entity: str, side: Side, canonical: str) -> str | None:
        return None


NO_REFS = _NoRefs()


__all__ = ["EntityContext", "Systems", "build_rules", "flag_marks", "flag_values"]
