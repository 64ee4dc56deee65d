"""Semantic problems found while validating a flow spec, with the path where each one sits.

Validators raise :class:`SpecIssues` (a ``ValueError``, so pydantic records it with its location);
the loader adds the issue's own sub-path to that location and maps it to a YAML line.
"""

from __future__ import annotations

from collections.abc import Sequence

PathPart = str | int
Path = tuple[PathPart, ...]


class SpecIssues(ValueError):
    """One or more problems, each a (path relative to the validated object, message) pair."""

    def __init__(self, issues: Sequence[tuple[Path, str]]) -> None:
        self.issues: list[tuple[Path, str]] = list(issues)
        super().__init__(
            "; ".join(f"{dotted(path)}: {msg}" if path else msg for path, msg in self.issues)
        )


def dotted(path: Sequence[PathPart]) -> str:
    """Render a location as ``entities.customer.fields[2].crm``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def raise_issues(issues: Sequence[tuple[Path, str]]) -> None:
    """Raise :class:`SpecIssues` when ``issues`` is not empty."""
    if issues:
        raise SpecIssues(issues)


__all__ = ["Path", "PathPart", "SpecIssues", "dotted", "raise_issues"]
