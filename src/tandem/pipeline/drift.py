"""Schema drift: how a system's description of an object changed since the previous run.

The description is saved after each describe; while it is young it also stands in for a
new describe (see ``Engine.prepare``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tandem.connectors.base import EntitySchema, FieldInfo


def summarise(schema: EntitySchema) -> dict[str, Any]:
    """Each field's description as plain data: enough to compare runs and to rebuild it."""
    return {
        name: {
            "type": info.type,
            "length": info.length,
            "nillable": info.nillable,
            "createable": info.createable,
            "updateable": info.updateable,
            "picklist": list(info.picklist) if info.picklist is not None else None,
            "restricted_picklist": info.restricted_picklist,
            "unique": info.unique,
            "external_id": info.external_id,
            "reference_to": list(info.reference_to),
            "required_on_create": info.required_on_create,
            "scale": info.scale,
            "name": info.name,
        }
        for name, info in schema.fields.items()
    }


def restore(source: str, summary: Mapping[str, Any]) -> EntitySchema | None:
    """The schema a :func:`summarise` gave, or None when the summary is from an older format."""
    fields: dict[str, FieldInfo] = {}
    try:
        for key, item in summary.items():
            if not isinstance(item, Mapping) or not _FULL.issubset(item):
                return None
            picklist = item["picklist"]
            scale = item["scale"]
            fields[key] = FieldInfo(
                name=str(item["name"]),
                type=item["type"],
                nillable=bool(item["nillable"]),
                createable=bool(item["createable"]),
                updateable=bool(item["updateable"]),
                length=None if item["length"] is None else int(item["length"]),
                unique=bool(item["unique"]),
                external_id=bool(item["external_id"]),
                picklist=None if picklist is None else tuple(str(v) for v in picklist),
                restricted_picklist=bool(item["restricted_picklist"]),
                reference_to=tuple(str(v) for v in item["reference_to"]),
                required_on_create=bool(item["required_on_create"]),
                scale=None if scale is None else int(scale),
            )
    except (TypeError, ValueError):
        return None
    return EntitySchema(source=source, fields=fields)


_FULL = frozenset(summarise(EntitySchema("", {"x": FieldInfo("x", "string")}))["x"])
"""The keys of a summarised field: a snapshot missing one (an older format, e.g. before the
scale was kept) is described again rather than trusted."""


def compare(previous: dict[str, Any], current: dict[str, Any], mapped: set[str]) -> list[str]:
    """Human-readable differences; fields Tandem maps are marked as such."""

    def tag(name: str) -> str:
        return f"{name} (mapped)" if name in mapped else name

    changes = [f"field {tag(n)} was added" for n in sorted(set(current) - set(previous))]
    changes += [f"field {tag(n)} was removed" for n in sorted(set(previous) - set(current))]
    for name in sorted(set(previous) & set(current)):
        before, after = previous[name], current[name]
        for aspect in ("type", "length", "scale", "nillable", "createable", "updateable"):
            if aspect == "scale" and aspect not in before:
                continue  # a snapshot from before scales were kept: no drift
            if (
                aspect == "scale"
                and before.get(aspect) is None
                and after.get("type") == before.get("type") == "datetime"
            ):
                continue  # from before a datetime's fractional digits were kept: no drift
            if before.get(aspect) != after.get(aspect):
                changes.append(
                    f"field {tag(name)}: {aspect} {before.get(aspect)!r} -> {after.get(aspect)!r}"
                )
        old, new = before.get("picklist") or [], after.get("picklist") or []
        if set(old) != set(new):
            gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
            parts = ([f"removed {gone}"] if gone else []) + ([f"added {added}"] if added else [])
            changes.append(f"field {tag(name)}: picklist values " + ", ".join(parts))
    return changes


__all__ = ["compare", "restore", "summarise"]
