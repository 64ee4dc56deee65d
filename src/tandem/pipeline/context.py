"""What the pipeline holds for one entity during a run: spec, bindings, schemas, policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tandem.config import EntitySpec, Side, other
from tandem.connectors.base import Connector, EntityBinding, EntitySchema
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
        return (name, self.spec.delete.value) if name else None


def build_rules(spec: EntitySpec) -> Rules:
    """The planner's view of an entity's policies."""
    return Rules(
        owner_of=spec.owner_of,
        default_owner=spec.owner if spec.owner != "both" else "crm",
        conflict=spec.conflict,
        delete=spec.delete.policy,
    )


__all__ = ["EntityContext", "Systems", "build_rules"]
