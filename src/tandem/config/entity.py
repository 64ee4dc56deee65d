"""One synchronised entity: its native objects on both sides, its fields and its policies."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tandem.config.fields import FieldSpec
from tandem.config.issues import Path, raise_issues
from tandem.config.parts import (
    SIDES,
    ConflictPolicy,
    DeleteSpec,
    Direction,
    IntervalSchedule,
    Owner,
    Schedule,
    Side,
    other,
)
from tandem.config.secrets import find_inline_secrets
from tandem.connectors.base import EntityBinding
from tandem.model import MODELS, canonical_field, validate_field

NAME_LIKE = frozenset(
    {"name", "first_name", "last_name", "full_name", "display_name", "company_name", "title"}
)
"""Canonical fields too weak to link records on their own (lesson: never match on names alone)."""


class SideSpec(BaseModel):
    """Where an entity lives in one system."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="Native object: ERP table/view, Salesforce sObject.")
    key: str = Field(description="Native primary-key field (id, Id).")
    external_id: str | None = Field(
        None, description="Native field holding the other system's key, for idempotent upserts."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Connector-specific settings (modified_column, ...)."
    )

    @model_validator(mode="after")
    def _no_inline_secrets(self) -> Self:
        """Options go to the connector as written (never resolved): no secret belongs there."""
        raise_issues(find_inline_secrets(self.options, ("options",)))
        return self


class EntitySpec(BaseModel):
    """A flow entity: canonical type, direction, both native bindings, fields and policies."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("", description="The entity name (its key under `entities`).")
    model: str = Field(description="Canonical type, e.g. customer, contact, product.")
    direction: Direction = "both"
    erp: SideSpec
    crm: SideSpec
    match: list[str] = Field(
        default_factory=list, description="Canonical fields used to link existing records."
    )
    depends_on: list[str] = Field(default_factory=list, description="Entities synced before.")
    owner: Owner = Field("crm", description="Default field owner (bidirectional entities).")
    conflict: ConflictPolicy = "owner_wins"
    delete: DeleteSpec = Field(default_factory=DeleteSpec)
    batch_size: int = Field(200, ge=1, le=10_000)
    initial_batch_size: int = Field(10_000, ge=1, le=100_000)
    schedule: Schedule = Field(
        default_factory=lambda: IntervalSchedule(mode="interval", seconds=60.0)
    )
    overlap_seconds: float = Field(5.0, ge=0)
    fields: list[FieldSpec] = Field(min_length=1)

    def side(self, side: Side) -> SideSpec:
        """The native binding settings of ``side``."""
        return self.erp if side == "erp" else self.crm

    def field(self, name: str) -> FieldSpec:
        """The field spec of a canonical field.

        Raises:
            KeyError: the entity maps no such field.
        """
        for spec in self.fields:
            if spec.field == name:
                return spec
        raise KeyError(f"entity {self.name} maps no field {name!r}")

    def owner_of(self, field: str | FieldSpec) -> Owner:
        """Which system is master of a field.

        ``erp_to_crm`` entities: erp; ``crm_to_erp``: crm; ``both``: the field's owner, else the
        side of its expression, else the only side it exists on, else the entity's owner.
        """
        spec = self.field(field) if isinstance(field, str) else field
        if self.direction == "erp_to_crm":
            return "erp"
        if self.direction == "crm_to_erp":
            return "crm"
        if spec.owner is not None:
            return spec.owner
        if spec.erp_expr is not None:
            return "erp"
        if spec.crm_expr is not None:
            return "crm"
        if spec.native("crm") is None:
            return "erp"
        if spec.native("erp") is None:
            return "crm"
        return self.owner

    def writable_fields(self, side: Side) -> list[FieldSpec]:
        """Fields Tandem writes on ``side``: a native name there, mastered elsewhere or by both."""
        return [
            spec
            for spec in self.fields
            if spec.native(side) is not None and self.owner_of(spec) in (other(side), "both")
        ]

    def create_fields(self, side: Side) -> list[FieldSpec]:
        """Fields sent when Tandem creates a record on ``side``: all with a native name there.

        A new record has no value of its own yet, so fields mastered by ``side`` are seeded too;
        afterwards only :meth:`writable_fields` are updated. Empty when Tandem never writes there.
        """
        if not self.writes_to(side):
            return []
        return [spec for spec in self.fields if spec.native(side) is not None]

    def writes_to(self, side: Side) -> bool:
        """Tandem writes records of this entity on ``side``."""
        return self.direction == "both" or self.direction == f"{other(side)}_to_{side}"

    def binding(self, side: Side) -> EntityBinding:
        """The connector binding of ``side``: native fields read or written, key and external id."""
        spec = self.side(side)
        excluded = {spec.key, spec.external_id}
        names: list[str] = []
        for field in self.fields:
            names.extend(field.reads(side))
        flag = self.delete.flag_field(side)
        if flag is not None and self.writes_to(side):
            names.append(flag)
        fields = tuple(n for n in dict.fromkeys(names) if n not in excluded)
        return EntityBinding(
            name=self.name,
            source=spec.source,
            key=spec.key,
            fields=fields,
            external_id=spec.external_id,
            options=dict(spec.options),
        )

    def native_path(self, side: Side, native: str, setting: str = "fields") -> Path:
        """Where this entity's spec writes the native name ``native`` of ``side``.

        Args:
            side: the system the name belongs to.
            native: a native name of the binding (a column or field, a table or sObject).
            setting: the binding setting it was given in (:attr:`BindingError.setting`):
                ``source``, ``key``, ``external_id``, ``options.<name>``, or ``fields``: a
                field's native name, a name its expression reads, or the delete flag field.

        Returns:
            The path inside the entity, e.g. ``("fields", 2, "erp")``, ``("fields", 3,
            "erp_expr")``, ``("erp", "options", "modified_column")``; ``(side,)`` when the spec
            does not name ``native`` where ``setting`` says.
        """
        spec = self.side(side)
        if setting.startswith("options."):
            option = setting.removeprefix("options.")
            return (side, "options", option) if option in spec.options else (side, "options")
        if setting in ("source", "key", "external_id"):
            return (side, setting)
        for index, field in enumerate(self.fields):
            if field.native(side) == native:
                return ("fields", index, side)
            if native in field.reads(side):
                return ("fields", index, f"{side}_expr")
        if native == self.delete.flag_field(side):
            return ("delete", f"{side}_field")
        for name in ("key", "external_id", "source"):
            if getattr(spec, name) == native:
                return (side, name)
        return (side,)

    @model_validator(mode="after")
    def _check(self) -> Self:
        raise_issues(entity_issues(self))
        return self


def entity_issues(entity: EntitySpec) -> list[tuple[Path, str]]:
    """Problems inside one entity (cross-entity checks live in the flow)."""
    if entity.model not in MODELS:
        known = ", ".join(sorted(MODELS))
        return [(("model",), f"unknown canonical model {entity.model!r} (known: {known})")]
    issues: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for index, spec in enumerate(entity.fields):
        issues.extend(((("fields", index, *p)), m) for p, m in _field_issues(entity, spec, seen))
        seen.add(spec.field)
    issues.extend(_match_issues(entity))
    if entity.name and entity.name in entity.depends_on:
        issues.append((("depends_on",), "an entity cannot depend on itself"))
    for side in SIDES:
        flag_needed = entity.writes_to(side) and (
            entity.delete.policy == "flag" or (entity.delete.policy == "archive" and side == "erp")
        )
        if flag_needed and entity.delete.flag_field(side) is None:
            issues.append(
                (
                    ("delete", f"{side}_field"),
                    f"delete policy {entity.delete.policy} needs {side}_field: the {side.upper()}"
                    " field set when the record is deleted on the other side",
                )
            )
    delete = entity.delete
    flagging = delete.policy in ("flag", "archive")
    for setting in ("cleared", "erp_cleared", "crm_cleared", "erp_value", "crm_value"):
        given = setting == "cleared" or getattr(delete, setting) is not None
        if setting in delete.model_fields_set and given and not flagging:
            issues.append(
                (
                    ("delete", setting),
                    f"{setting} has no flag to {'clear' if 'cleared' in setting else 'set'}"
                    f" under policy {delete.policy}",
                )
            )
    if flagging:
        for side in SIDES:
            given, cleared = delete.cleared_on(side)
            if given and cleared == delete.value_on(side):
                own = getattr(delete, f"{side}_cleared") is not None
                setting = f"{side}_cleared" if own else "cleared"
                issues.append(
                    (
                        ("delete", setting),
                        f"cleared ({cleared!r}) must differ from value, the deleted mark"
                        f" ({side.upper()})",
                    )
                )
                break
    return issues


def _field_issues(entity: EntitySpec, spec: FieldSpec, seen: set[str]) -> list[tuple[Path, str]]:
    try:
        info = canonical_field(entity.model, spec.field)
    except ValueError as exc:
        return [(("field",), str(exc))]
    issues: list[tuple[Path, str]] = []
    if spec.field in seen:
        issues.append((("field",), f"{spec.field} is mapped twice"))
    if info.kind in ("money", "model"):
        issues.append(
            (("field",), f"{spec.field} has sub-fields: map {spec.field}.<part> one by one")
        )
    if spec.field.endswith(".amount") and info.kind == "decimal":
        parent = spec.field.removesuffix(".amount")
        if canonical_field(entity.model, parent).kind == "money" and not any(
            f.field == f"{parent}.currency" for f in entity.fields
        ):
            issues.append(
                (
                    ("field",),
                    f"money always travels with its currency: map {parent}.currency too"
                    " (a native field or a default)",
                )
            )
    if spec.has_default and not info.custom:
        try:
            validate_field(entity.model, spec.field, spec.default)
        except ValueError as exc:
            issues.append((("default",), f"the default is not a valid {spec.field}: {exc}"))
    if spec.ref is not None and info.kind != "str":
        issues.append((("ref",), f"{spec.field} is not a reference field"))
    direction_owner = {"erp_to_crm": "erp", "crm_to_erp": "crm"}.get(entity.direction)
    if direction_owner and spec.owner not in (None, direction_owner):
        issues.append((("owner",), f"owner {spec.owner} contradicts direction {entity.direction}"))
        return issues
    owner = entity.owner_of(spec)
    for side in SIDES:
        # an expression is read-only: fine on a side the field only flows away from (or is
        # only read on, e.g. for matching), wrong where the field must be written
        contradicts = spec.owner not in (None, side) or owner == "both"
        if spec.expression(side) is not None and contradicts:
            issues.append(
                (
                    (f"{side}_expr",),
                    f"an expression is one-way ({side} -> {other(side)})"
                    f" but the field's owner is {owner}",
                )
            )
    sources: tuple[Side, ...] = ("erp", "crm") if owner == "both" else (owner,)
    for side in sources:
        if owner == "both" and spec.native(side) is None:
            issues.append(((side,), f"a field owned by both sides needs a native {side} field"))
        elif not spec.readable(side) and not spec.has_default:
            issues.append(
                ((), f"owner is {owner} but the field has no {side} field, expression or default")
            )
    return issues


def _match_issues(entity: EntitySpec) -> list[tuple[Path, str]]:
    issues: list[tuple[Path, str]] = []
    names = {spec.field: spec for spec in entity.fields}
    for index, name in enumerate(entity.match):
        spec = names.get(name)
        if spec is None:
            issues.append((("match", index), f"{name} is not a mapped field of this entity"))
        elif not (spec.readable("erp") and spec.readable("crm")):
            issues.append((("match", index), f"{name} must be readable on both sides to match"))
    if entity.match and all(_name_like(n, names.get(n)) for n in entity.match):
        issues.append(
            (
                ("match",),
                "names alone are too weak to link records: add a strong key"
                " (tax ID, e-mail, ERP number)",
            )
        )
    return issues


def _name_like(name: str, spec: FieldSpec | None) -> bool:
    """Whether a match field is a name: by its canonical name, or by a native field it maps
    (``x_key`` read from ``Name`` links records by their names all the same)."""
    natives = [] if spec is None else [spec.native(side) for side in SIDES]
    return any(
        n is not None and (n.lower() in NAME_LIKE or n.lower().endswith("name"))
        for n in (name, *natives)
    )


__all__ = ["NAME_LIKE", "EntitySpec", "SideSpec", "entity_issues"]
