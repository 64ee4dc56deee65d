"""Checks against a system's own description of its objects (``Connector.describe``).

:func:`check_binding` runs once per entity and side before any write and lists every problem
in words (:func:`binding_problems` also names the entity setting each one is about);
:func:`scale_warnings` compares both sides' numeric fields and lists what is worth knowing but
does not stop a flow (decimal places one system cannot hold);
:func:`validate_native` runs per record and refuses a value the target would refuse, so a bad
record is dead-lettered before it costs an API call.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tandem.connectors.base import EntitySchema, FieldInfo, FieldType
from tandem.errors import MappingError
from tandem.mapping.expressions import Expression, ExpressionError
from tandem.mapping.mapper import Side
from tandem.mapping.scale import lookup as _lookup
from tandem.mapping.scale import native_scale, scaled_natives
from tandem.model import canonical_field
from tandem.model.types import check_email

if TYPE_CHECKING:
    from tandem.config import EntitySpec, FieldSpec, ValueMapSpec

TEXT_TYPES: frozenset[FieldType] = frozenset(
    {"id", "string", "text", "email", "phone", "url", "picklist", "multipicklist", "reference"}
)
NUMBER_TYPES: frozenset[FieldType] = frozenset({"integer", "number", "currency", "percent"})

_COMPATIBLE: Mapping[str, frozenset[FieldType]] = {
    "str": TEXT_TYPES | NUMBER_TYPES | {"other"},
    "bool": frozenset({"boolean", "integer", "string", "picklist", "other"}),
    "int": NUMBER_TYPES | {"string", "text", "picklist", "id", "other"},
    "decimal": NUMBER_TYPES | {"string", "text", "other"},
    "date": frozenset({"date", "datetime", "string", "text", "other"}),
    "datetime": frozenset({"datetime", "string", "text", "other"}),
}
"""Canonical kind -> native types it can be stored in (``any`` and refs are not checked)."""


ProblemPath = tuple[str | int, ...]
"""A location inside an entity's spec, e.g. ``("fields", 2, "crm")``."""


@dataclass(frozen=True, slots=True)
class BindingProblem:
    """One way an entity's mapping does not fit a system's described schema.

    Attributes:
        path: the offending setting inside the entity's spec: ``("fields", 2, "crm")`` (a
            field's native name), ``("crm", "external_id")``, ``("delete", "crm_field")``, or
            ``("crm",)`` for the side's binding as a whole.
        message: what is wrong, in words (the text :func:`check_binding` gives).
    """

    path: ProblemPath
    message: str

    def __str__(self) -> str:
        return self.message


def check_binding(
    entity: EntitySpec,
    side: Side,
    schema: EntitySchema,
    writes: bool,
    value_maps: Mapping[str, ValueMapSpec] | None = None,
) -> list[str]:
    """Compare an entity's mapping on one side with that side's described schema.

    Args:
        entity: the flow entity.
        side: which system ``schema`` describes.
        schema: the connector's description of the entity's native object.
        writes: Tandem writes this entity on ``side`` (checks writability and required fields).
        value_maps: the flow's value maps, to check their targets against restricted picklists.

    Returns:
        One human message per problem (empty when the mapping fits): unknown fields, fields
        Tandem would write that the system will not let it write, value-map targets missing
        from a restricted picklist, type mismatches, required fields left unmapped.
    """
    return [p.message for p in binding_problems(entity, side, schema, writes, value_maps)]


def binding_problems(
    entity: EntitySpec,
    side: Side,
    schema: EntitySchema,
    writes: bool,
    value_maps: Mapping[str, ValueMapSpec] | None = None,
) -> list[BindingProblem]:
    """:func:`check_binding`, each problem with the entity setting it is about."""
    where = f"{side} {schema.source}"
    binding = entity.binding(side)
    problems: list[BindingProblem] = []
    for name in (binding.key, *binding.fields):
        if _lookup(schema, name) is None:
            problems.append(
                BindingProblem(
                    _read_path(entity, side, name),
                    f"{where}: unknown field {name!r} (entity {entity.name})",
                )
            )
    if binding.external_id is not None:
        problems.extend(
            BindingProblem((side, "external_id"), message)
            for message in _check_external_id(entity, where, schema, binding.external_id, writes)
        )
    for index, field in enumerate(entity.fields):
        native = field.native(side)
        info = _lookup(schema, native) if native else None
        if info is not None:
            at: ProblemPath = ("fields", index, side)
            messages = [
                *_check_type(entity, field, where, info),
                *_check_picklist(entity, field, side, where, info, value_maps or {}),
            ]
            problems.extend(BindingProblem(at, message) for message in messages)
    if writes:
        problems.extend(_check_writes(entity, side, where, schema))
        problems.extend(_check_flag_values(entity, side, where, schema))
    return problems


def _check_flag_values(
    entity: EntitySpec, side: Side, where: str, schema: EntitySchema
) -> list[BindingProblem]:
    """The delete policy's ``value`` and ``cleared`` against the flag field they are written
    to on ``side``: one the system refuses would dead-letter every flag or restore."""
    flag = entity.delete.flag_field(side)
    info = _lookup(schema, flag) if flag else None
    if info is None:
        return []
    delete = entity.delete
    own = [
        name for name in (f"{side}_value", f"{side}_cleared") if getattr(delete, name) is not None
    ]
    settings = [(f"{side}_value" if f"{side}_value" in own else "value", delete.value_on(side))]
    if (clear := delete.clears(side)) is not None:
        settings.append((f"{side}_cleared" if f"{side}_cleared" in own else "cleared", clear[1]))
    problems: list[BindingProblem] = []
    for setting, value in settings:
        reason = _refusal(info, value)
        if reason is not None:
            message = (
                f"{where}: delete {setting} {value!r} cannot be written to {info.name}"
                f" (entity {entity.name}): {reason}"
            )
            problems.append(BindingProblem(("delete", setting), message))
    return problems


def _integer_against_places(
    entity: EntitySpec,
    name: str,
    erp: EntitySchema,
    erp_info: FieldInfo,
    crm: EntitySchema,
    crm_info: FieldInfo,
) -> tuple[Side, str] | None:
    """A warning when one side's field holds whole numbers and the other's decimal places.

    A value with a fraction is not rounded into an integer field (Salesforce refuses it too):
    such a record is dead-lettered, naming the value. Located at the integer side.
    """
    infos: dict[Side, tuple[EntitySchema, FieldInfo]] = {
        "erp": (erp, erp_info),
        "crm": (crm, crm_info),
    }
    pairs: tuple[tuple[Side, Side], ...] = (("erp", "crm"), ("crm", "erp"))
    for whole, fractional in pairs:
        schema, info = infos[whole]
        other_schema, other_info = infos[fractional]
        places = native_scale(other_info)
        if info.type != "integer" or not places:
            continue
        message = (
            f"entity {entity.name}, field {name}: {fractional} {other_schema.source}."
            f"{other_info.name} has {_places(places)} but {whole} {schema.source}.{info.name}"
            f" holds whole numbers; a value with a fraction is not written to the {whole} (the"
            " record is dead-lettered, naming it)"
        )
        return whole, message
    return None


def scale_warnings(
    entity: EntitySpec, erp: EntitySchema, crm: EntitySchema
) -> list[BindingProblem]:
    """Fields whose native numeric fields hold different decimal places in the two systems.

    Not an error, a warning: Tandem rounds a value half up to the places of the field it
    writes (as Salesforce does) and compares the two systems' values at the fewer places, so
    the system with more keeps digits the other cannot hold (its ``12.345`` is the other's
    ``12.35``, not drift) and a change in those digits alone is not synced.

    Args:
        entity: the flow entity.
        erp: the ERP's description of the entity's object.
        crm: the CRM's description of the entity's object.

    Returns:
        One warning per such field, naming the entity, the field, both native fields and both
        scales, located at the native field of the side with fewer places.
    """
    index_of: dict[str, int] = {}
    for index, field in enumerate(entity.fields):
        index_of.setdefault(field.field, index)
    crm_natives = scaled_natives(entity, "crm")
    warnings: list[BindingProblem] = []
    for name, erp_native in scaled_natives(entity, "erp").items():
        crm_native = crm_natives.get(name)
        if crm_native is None:
            continue
        erp_info, crm_info = _lookup(erp, erp_native), _lookup(crm, crm_native)
        if erp_info is None or crm_info is None:
            continue
        whole = _integer_against_places(entity, name, erp, erp_info, crm, crm_info)
        if whole is not None:
            warnings.append(BindingProblem(("fields", index_of[name], whole[0]), whole[1]))
            continue
        erp_scale, crm_scale = native_scale(erp_info), native_scale(crm_info)
        if erp_scale is None or crm_scale is None:
            continue
        if erp_scale == crm_scale:
            continue
        coarser: Side = "crm" if erp_scale > crm_scale else "erp"
        places = min(erp_scale, crm_scale)
        message = (
            f"entity {entity.name}, field {name}: erp {erp.source}.{erp_info.name} has"
            f" {_places(erp_scale)} but crm {crm.source}.{crm_info.name} has"
            f" {_places(crm_scale)}; values are compared at {_places(places)} and rounded"
            f" half up to {_places(places)} when written to the {coarser}"
        )
        warnings.append(BindingProblem(("fields", index_of[name], coarser), message))
    return warnings


def _places(scale: int) -> str:
    return f"{scale} decimal place" + ("" if scale == 1 else "s")


def _read_path(entity: EntitySpec, side: Side, name: str) -> ProblemPath:
    """Where the spec names a native field the binding reads on ``side``."""
    if name == entity.side(side).key:
        return (side, "key")
    for index, field in enumerate(entity.fields):
        if name in field.reads(side):
            return ("fields", index, side if field.native(side) == name else f"{side}_expr")
    if name == entity.delete.flag_field(side):
        return ("delete", f"{side}_field")
    return (side,)


def _check_external_id(
    entity: EntitySpec, where: str, schema: EntitySchema, name: str, writes: bool
) -> list[str]:
    info = _lookup(schema, name)
    if info is None:
        return [f"{where}: unknown external-id field {name!r} (entity {entity.name})"]
    if writes and not (info.createable and info.updateable):
        return [f"{where}: external-id field {info.name} is not writable"]
    return []


def _check_type(entity: EntitySpec, field: FieldSpec, where: str, info: FieldInfo) -> list[str]:
    if field.value_map is not None or field.ref is not None:
        allowed_ref = TEXT_TYPES | {"integer", "other"}
        if field.ref is not None and info.type not in allowed_ref:
            return [
                f"{where}: {info.name} is {info.type}, it cannot hold a reference ({field.field})"
            ]
        return []
    kind = canonical_field(entity.model, field.field).kind
    allowed = _COMPATIBLE.get(kind)
    if allowed is not None and info.type not in allowed:
        return [f"{where}: {field.field} is a {kind} but {info.name} is {info.type}"]
    return []


def _check_picklist(
    entity: EntitySpec,
    field: FieldSpec,
    side: Side,
    where: str,
    info: FieldInfo,
    value_maps: Mapping[str, ValueMapSpec],
) -> list[str]:
    if not (info.restricted_picklist and info.picklist is not None):
        return []
    vm = value_maps.get(field.value_map) if field.value_map else None
    if vm is not None:
        candidates: list[Any] = vm.targets(side)
        source = f"value map {field.value_map}"
    elif field.value_map is None and field.ref is None:
        candidates = list(canonical_field(entity.model, field.field).choices or ())
        source = f"canonical {field.field}"
    else:
        return []
    problems: list[str] = []
    missing = [v for v in candidates if str(v) not in info.picklist]
    if missing:
        shown = ", ".join(repr(v) for v in missing)
        problems.append(
            f"{where}: {source} can produce {shown}, not in the restricted picklist {info.name}"
        )
    if vm is None:
        for what, value in _constants(field, side):
            if value is not None and str(value) not in info.picklist:
                problems.append(
                    f"{where}: {what} gives {value!r} for every record without a value, not in"
                    f" the restricted picklist {info.name}"
                    if what == "the default"
                    else f"{where}: {what} gives {value!r} for every record, not in the"
                    f" restricted picklist {info.name}"
                )
    return problems


def _constants(field: FieldSpec, side: Side) -> list[tuple[str, Any]]:
    """The values a field writes to ``side`` whatever the record holds, each with what gives
    it: its default, and its other side's expression when that names no field (``"'X'"``)."""
    found: list[tuple[str, Any]] = [("the default", field.default)] if field.has_default else []
    other = "crm" if side == "erp" else "erp"
    text = getattr(field, f"{other}_expr")
    if text is not None:
        try:
            expression = Expression(text)
            if not expression.names:
                found.append((f"{other}_expr", expression.evaluate({})))
        except ExpressionError:
            pass  # refused where the expression is checked
    return found


def _check_writes(
    entity: EntitySpec, side: Side, where: str, schema: EntitySchema
) -> list[BindingProblem]:
    problems: list[BindingProblem] = []
    updated = {spec.field for spec in entity.writable_fields(side)}
    index_of = {id(spec): index for index, spec in enumerate(entity.fields)}
    written: set[str] = set()
    for field in entity.create_fields(side):
        info = _lookup(schema, field.native(side) or "")
        if info is None:
            continue
        written.add(info.name)
        at: ProblemPath = ("fields", index_of[id(field)], side)
        if field.field in updated and not info.createable and not info.updateable:
            message = f"{where}: {info.name} is read-only but Tandem writes {field.field}"
            problems.append(BindingProblem(at, message))
        elif not info.createable:
            problems.append(
                BindingProblem(at, f"{where}: {info.name} cannot be set when creating a record")
            )
        # createable but not updateable (PricebookEntry.Product2Id): set on create; an update
        # leaves it out while the partner holds the value (a first link plans every field),
        # and a record that would change it is dead-lettered (pipeline/createonly.py)
    binding = entity.binding(side)
    flag = entity.delete.flag_field(side)
    written.update(n for n in (binding.external_id, flag) if n)
    for info in schema.fields.values():
        if info.required_on_create and info.name not in written and info.name != binding.key:
            problems.append(
                BindingProblem(
                    (side,),
                    f"{where}: {info.name} is required to create a record but no field writes it",
                )
            )
    return problems


def validate_native(
    record_key: str, values: Mapping[str, Any], schema: EntitySchema, creating: bool
) -> None:
    """Refuse, before any API call, a native record the target would refuse.

    Checking many records against one schema, :class:`NativeValidator` resolves each field's
    checks once.

    Args:
        record_key: the source record's key, for the error.
        values: native field -> value about to be written.
        schema: the target's description of the object.
        creating: the write creates the record (required fields must then be present).

    Raises:
        MappingError: unknown field, wrong type, over-long text, a value not in a restricted
            picklist, an invalid e-mail, an empty non-nillable field, or a field required on
            create that is missing.
    """
    NativeValidator(schema).validate(record_key, values, creating)


Check = Callable[[Any], str | None]
"""A native field's check: why the target would refuse a value, or None."""


_NO_TEXT = -1
"""The text limit of a field whose check :meth:`NativeValidator.validate` never skips."""


class NativeValidator:
    """:func:`validate_native` against one schema, each field's checks resolved on first use.

    Args:
        schema: the target's description of the object (not changed while in use).
    """

    def __init__(self, schema: EntitySchema) -> None:
        self.schema = schema
        self._checks: dict[str, tuple[str, Check | None, int]] = {}
        """Field -> its name in the schema, its check (None: no such field) and its text limit:
        a ``str`` of 1 to that many characters passes the check (:data:`_NO_TEXT`: ask it)."""
        self._required = [
            (info.name, info.name.lower())
            for info in schema.fields.values()
            if info.required_on_create
        ]

    def validate(self, record_key: str, values: Mapping[str, Any], creating: bool) -> None:
        """:func:`validate_native` of one record against this validator's schema."""
        known = self._checks.get
        for name, value in values.items():
            found = known(name)
            if found is None:
                found = self._resolve(name)
            # most values are text that fits: passing the check without calling it
            if type(value) is str and 0 < len(value) <= found[2]:
                continue
            check = found[1]
            if check is None:
                raise MappingError(
                    f"{self.schema.source} has no field {name}",
                    record=record_key,
                    field=name,
                    value=value,
                )
            reason = check(value)
            if reason is not None:
                raise MappingError(
                    f"{self.schema.source}.{found[0]}: {reason}",
                    record=record_key,
                    field=name,
                    value=value,
                )
        if creating and self._required:
            self._check_required(record_key, values)

    def _resolve(self, name: str) -> tuple[str, Check | None, int]:
        info = _lookup(self.schema, name)
        found = (name, None, _NO_TEXT) if info is None else _field_entry(info)
        self._checks[name] = found
        return found

    def _check_required(self, record_key: str, values: Mapping[str, Any]) -> None:
        present: set[str] | None = None
        for name, lowered in self._required:
            value = values.get(name)
            if name in values and value is not None and value != "":
                continue  # given under its own name (the usual case)
            if present is None:
                present = {k.lower() for k, v in values.items() if v is not None and v != ""}
            if lowered not in present:
                raise MappingError(
                    f"{self.schema.source}.{name} is required to create a record",
                    record=record_key,
                    field=name,
                    value=values.get(name),
                )


def _field_entry(info: FieldInfo) -> tuple[str, Check, int]:
    """A field's entry in :class:`NativeValidator`: its name, check and text limit.

    The limit is the length a text may have when, for a non-empty ``str``, the check tests
    nothing but the length (a text field that is no e-mail and no restricted picklist).
    """
    restricted = info.restricted_picklist and info.picklist is not None
    limit = _NO_TEXT
    if _CHECKS.get(info.type) is _text and info.type != "email" and not restricted:
        limit = sys.maxsize if info.length is None else info.length
    return info.name, _field_check(info), limit


def _field_check(info: FieldInfo) -> Check:
    """:func:`_refusal` of one field, with what does not depend on the value worked out."""
    empty = "may not be empty" if not info.nillable and info.type != "boolean" else None
    checker = _CHECKS.get(info.type)
    if checker is _text:
        return _text_check(info, empty)
    if checker is None:
        return lambda value: empty if value is None or value == "" else None

    def check(value: Any) -> str | None:
        if value is None or value == "":
            return empty
        return checker(info, value)

    return check


def _text_check(info: FieldInfo, empty: str | None) -> Check:
    """:func:`_text` of one field: a ``str`` skips the type test, the picklist is a set."""
    length = info.length
    email = info.type == "email"
    multi = info.type == "multipicklist"
    allowed: Collection[str] | None = None
    if info.restricted_picklist and info.picklist is not None:
        texts = all(type(v) is str for v in info.picklist)
        allowed = frozenset(info.picklist) if texts else info.picklist

    def check(value: Any) -> str | None:
        if value is None or value == "":
            return empty
        if type(value) is str:
            text = value
        elif isinstance(value, bool | date | datetime | Mapping | list | tuple):
            return f"expected text for a {info.type} field, got {type(value).__name__}"
        else:
            text = str(value)
        if length is not None and len(text) > length:
            return f"is {len(text)} characters long, at most {length} allowed"
        if email:
            try:
                check_email(text)
            except ValueError as exc:
                return str(exc)
        if allowed is not None:
            parts = text.split(";") if multi else [text]
            bad = [p for p in parts if p not in allowed]
            if bad:
                return f"{', '.join(repr(b) for b in bad)} is not in the restricted picklist"
        return None

    return check


def _refusal(info: FieldInfo, value: Any) -> str | None:
    if value is None or value == "":
        if not info.nillable and info.type != "boolean":
            return "may not be empty"
        return None
    checker = _CHECKS.get(info.type)
    if checker is not None:
        reason = checker(info, value)
        if reason is not None:
            return reason
    return None


def _text(info: FieldInfo, value: Any) -> str | None:
    if isinstance(value, bool | date | datetime | Mapping | list | tuple):
        return f"expected text for a {info.type} field, got {type(value).__name__}"
    text = str(value)
    if info.length is not None and len(text) > info.length:
        return f"is {len(text)} characters long, at most {info.length} allowed"
    if info.type == "email":
        try:
            check_email(text)
        except ValueError as exc:
            return str(exc)
    if info.restricted_picklist and info.picklist is not None:
        parts = text.split(";") if info.type == "multipicklist" else [text]
        bad = [p for p in parts if p not in info.picklist]
        if bad:
            return f"{', '.join(repr(b) for b in bad)} is not in the restricted picklist"
    return None


def _boolean(info: FieldInfo, value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {value!r}"


def _integer(info: FieldInfo, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"expected an integer, got {type(value).__name__}"
    if Decimal(str(value)) != Decimal(str(value)).to_integral_value():
        return "expected an integer, got a fraction"
    return None


def _number(info: FieldInfo, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"expected a number, got {type(value).__name__}"
    return None


def _date(info: FieldInfo, value: Any) -> str | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return None
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    return f"expected a date, got {type(value).__name__}"


def _datetime(info: FieldInfo, value: Any) -> str | None:
    if isinstance(value, datetime):
        return None if value.tzinfo is not None else "a naive datetime has no time zone"
    return f"expected a datetime, got {type(value).__name__}"


_CHECKS = {
    **{t: _text for t in TEXT_TYPES},
    "boolean": _boolean,
    "integer": _integer,
    "number": _number,
    "currency": _number,
    "percent": _number,
    "date": _date,
    "datetime": _datetime,
}

__all__ = [
    "BindingProblem",
    "NativeValidator",
    "ProblemPath",
    "binding_problems",
    "check_binding",
    "scale_warnings",
    "validate_native",
]
