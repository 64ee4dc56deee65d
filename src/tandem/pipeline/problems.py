"""Why a flow cannot run as configured, each reason placed in the config file.

:meth:`Engine.prepare` compares the mapping with both systems' descriptions; every problem it
finds names the file, the line and the dotted setting, as a :class:`ConfigError` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tandem.config import FlowSpec
from tandem.config.issues import PathPart, dotted
from tandem.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Problem:
    """One way the flow's mapping does not fit a system.

    Attributes:
        message: what is wrong, e.g. ``crm Account: unknown field 'Tax_Number__c' ...``.
        field: the dotted setting it is about, e.g. ``entities.customer.fields[2].crm``.
        file: the config file, when known.
        line: the setting's 1-based line in that file (or its nearest enclosing one's).
    """

    message: str
    field: str
    file: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line) if p is not None)
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.field}: {self.message}"


def locate(flow: FlowSpec, path: Sequence[PathPart], message: str) -> Problem:
    """A problem about the setting at ``path`` of ``flow``, placed in its config file."""
    return Problem(message, dotted(path), flow.source_file, flow.line_of(path))


def of_error(error: ConfigError) -> Problem:
    """The problem a placed :class:`ConfigError` names (a connector's binding fault)."""
    return Problem(error.detail, error.field or "", error.file, error.line)


def unfit(problems: Sequence[Problem], state: str = "does not fit") -> ConfigError:
    """The error that stops a flow whose mapping ``state`` the systems: one problem a line."""
    lines = "\n  ".join(str(problem) for problem in problems)
    return ConfigError(f"the mapping {state} the systems:\n  {lines}")


__all__ = ["Problem", "locate", "of_error", "unfit"]
