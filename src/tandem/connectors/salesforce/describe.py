"""Salesforce describe results as Tandem schemas, and schema drift between two of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tandem.connectors.base import EntitySchema, FieldInfo, FieldType

__all__ = [
    "SCALED",
    "SF_TYPES",
    "diff_schemas",
    "field_info",
    "to_schema",
]

SF_TYPES: Mapping[str, FieldType] = {
    "id": "id",
    "string": "string",
    "textarea": "text",
    "email": "email",
    "phone": "phone",
    "url": "url",
    "picklist": "picklist",
    "combobox": "picklist",
    "multipicklist": "multipicklist",
    "reference": "reference",
    "boolean": "boolean",
    "int": "integer",
    "long": "integer",
    "double": "number",
    "currency": "currency",
    "percent": "percent",
    "date": "date",
    "datetime": "datetime",
}
"""Salesforce field ``type`` -> Tandem :data:`~tandem.connectors.base.FieldType`."""

SCALED: frozenset[FieldType] = frozenset({"number", "currency", "percent"})
"""Field types whose describe ``scale`` is the decimal places a value is stored with."""
DATETIME_DIGITS = 3
"""The fractional-second digits a Salesforce datetime keeps (milliseconds), which its describe
does not give: the scale of a ``datetime`` field, so an ERP's microseconds are compared at
the milliseconds both systems keep instead of read back as a change."""


def field_info(raw: Mapping[str, Any]) -> FieldInfo:
    """One describe field as a :class:`~tandem.connectors.base.FieldInfo`."""
    kind: FieldType = SF_TYPES.get(str(raw.get("type", "")).lower(), "other")
    nillable = bool(raw.get("nillable", True))
    createable = bool(raw.get("createable", True))
    values = raw.get("picklistValues") or ()
    picklist = (
        tuple(str(v["value"]) for v in values if v.get("active", True) and "value" in v)
        if kind in ("picklist", "multipicklist")
        else None
    )
    length = raw.get("length")
    scale = raw.get("scale")
    scaled = kind in SCALED and isinstance(scale, int) and not isinstance(scale, bool)
    return FieldInfo(
        name=str(raw["name"]),
        type=kind,
        nillable=nillable,
        createable=createable,
        updateable=bool(raw.get("updateable", True)),
        length=int(length) if length else None,
        unique=bool(raw.get("unique", False)),
        external_id=bool(raw.get("externalId", False)),
        picklist=picklist,
        restricted_picklist=bool(raw.get("restrictedPicklist", False)),
        reference_to=tuple(str(r) for r in raw.get("referenceTo") or ()),
        # Booleans are never null (they default to false), so never "required".
        required_on_create=(
            not nillable
            and createable
            and not bool(raw.get("defaultedOnCreate", False))
            and kind != "boolean"
        ),
        scale=scale if scaled else (DATETIME_DIGITS if kind == "datetime" else None),
    )


def to_schema(describe: Mapping[str, Any]) -> EntitySchema:
    """A ``sobjects/{obj}/describe`` body as an :class:`~tandem.connectors.base.EntitySchema`."""
    fields = {info.name: info for info in (field_info(f) for f in describe.get("fields") or ())}
    return EntitySchema(source=str(describe.get("name", "")), fields=fields)


def diff_schemas(
    previous: EntitySchema, current: EntitySchema, watched: Iterable[str] = ()
) -> list[str]:
    """Human-readable differences from ``previous`` to ``current``.

    Args:
        previous: the schema seen before (e.g. at the last run).
        current: the schema now.
        watched: fields the flow uses; their disappearance is reported first and loudly.

    Returns:
        One line per difference; empty when nothing changed.
    """
    obj = current.source or previous.source
    notes: list[str] = []
    for name in watched:
        if name not in current.fields:
            notes.append(f"{obj}.{name}: used by the flow but no longer exists")
    for name in sorted(previous.fields.keys() - current.fields.keys()):
        if not any(note.startswith(f"{obj}.{name}:") for note in notes):
            notes.append(f"{obj}.{name}: removed")
    for name in sorted(current.fields.keys() - previous.fields.keys()):
        notes.append(f"{obj}.{name}: added ({current.fields[name].type})")
    for name in sorted(previous.fields.keys() & current.fields.keys()):
        old, new = previous.fields[name], current.fields[name]
        if old.type != new.type:
            notes.append(f"{obj}.{name}: type changed from {old.type} to {new.type}")
        if old.length != new.length:
            notes.append(f"{obj}.{name}: length changed from {old.length} to {new.length}")
        old_scale, new_scale = getattr(old, "scale", None), getattr(new, "scale", None)
        if old_scale != new_scale:
            notes.append(f"{obj}.{name}: scale changed from {old_scale} to {new_scale}")
        if old.picklist != new.picklist:
            added = sorted(set(new.picklist or ()) - set(old.picklist or ()))
            gone = sorted(set(old.picklist or ()) - set(new.picklist or ()))
            notes.append(f"{obj}.{name}: picklist values added {added}, removed {gone}")
        for attr in ("nillable", "createable", "updateable", "restricted_picklist", "unique"):
            if getattr(old, attr) != getattr(new, attr):
                notes.append(
                    f"{obj}.{name}: {attr} changed from {getattr(old, attr)} "
                    f"to {getattr(new, attr)}"
                )
    return notes
