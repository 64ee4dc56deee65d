"""Schema drift: how a system's description of an object changed since the previous run."""

from __future__ import annotations

from typing import Any

from tandem.connectors.base import EntitySchema


def summarise(schema: EntitySchema) -> dict[str, Any]:
    """The parts of each field description that matter to a mapping, as plain data."""
    return {
        name: {
            "type": info.type,
            "length": info.length,
            "nillable": info.nillable,
            "createable": info.createable,
            "updateable": info.updateable,
            "picklist": sorted(info.picklist) if info.picklist is not None else None,
        }
        for name, info in schema.fields.items()
    }


def compare(previous: dict[str, Any], current: dict[str, Any], mapped: set[str]) -> list[str]:
    """Human-readable differences; fields Tandem maps are marked as such."""

    def tag(name: str) -> str:
        return f"{name} (mapped)" if name in mapped else name

    changes = [f"field {tag(n)} was added" for n in sorted(set(current) - set(previous))]
    changes += [f"field {tag(n)} was removed" for n in sorted(set(previous) - set(current))]
    for name in sorted(set(previous) & set(current)):
        before, after = previous[name], current[name]
        for aspect in ("type", "length", "nillable", "createable", "updateable"):
            if before.get(aspect) != after.get(aspect):
                changes.append(
                    f"field {tag(name)}: {aspect} {before.get(aspect)!r} -> {after.get(aspect)!r}"
                )
        old, new = before.get("picklist") or [], after.get("picklist") or []
        if old != new:
            gone, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
            parts = ([f"removed {gone}"] if gone else []) + ([f"added {added}"] if added else [])
            changes.append(f"field {tag(name)}: picklist values " + ", ".join(parts))
    return changes


__all__ = ["compare", "summarise"]
