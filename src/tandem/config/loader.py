"""Load a flow spec from YAML; every error names the file, the line and the dotted setting.

YAML is read with a loader that records where each node starts, and with YAML 1.2 booleans
(only ``true``/``false``), so a country code ``NO`` stays the string ``"NO"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tandem.config.flow import FlowSpec
from tandem.config.issues import PathPart, SpecIssues, dotted
from tandem.config.parts import DEFAULTABLE
from tandem.config.schema import flow_json_schema
from tandem.errors import ConfigError

Lines = dict[tuple[PathPart, ...], int]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, and numbers that keep every code as written.

    YAML 1.1 reads ``010`` as the octal 8, ``01`` as 1 and ``12:30`` as 750 (base 60): a value
    map ``{010: Warehouse}`` then refused the ERP's code ``'010'`` and wrote ``8`` back, and
    ``{01: Sales}`` wrote ``1`` where the ERP holds ``'01'``. An unquoted number with a leading
    zero (``01``, ``010``, ``00.5``) or with colons is text here; ``0``, ``0.5``, ``0x1F`` and
    the rest are numbers as before.
    """


_REPLACED = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_Loader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?0|[-+]?[1-9][0-9_]*|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:0|[1-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
        r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, path: tuple[PathPart, ...]) -> None:
        super().__init__(key)
        self.key, self.line, self.path = key, line, path


class _Unbounded(Exception):
    def __init__(self, why: str, line: int, path: tuple[PathPart, ...]) -> None:
        super().__init__(why)
        self.why, self.line, self.path = why, line, path


MAX_NODES = 100_000
"""The most settings a flow file may hold once its aliases are expanded (a flow has a few
thousand). Each alias is expanded where it is used, so nine nested levels of ten aliases
(a "billion laughs") made a 1 KB file a billion nodes: loading never ended."""


class _LineRecorder:
    """Records each node path's line, refusing duplicate keys, self-containing and huge
    alias expansions."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self.left = MAX_NODES
        self.open: set[int] = set()
        """The collections being walked: an alias to one of them would never end."""

    def record(self, node: yaml.Node, path: tuple[PathPart, ...]) -> None:
        self.left -= 1
        if self.left < 0:
            raise _Unbounded(
                f"the file holds more than {MAX_NODES} settings once its aliases are expanded",
                node.start_mark.line + 1,
                path,
            )
        if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            return
        if id(node) in self.open:
            raise _Unbounded(
                "an alias refers to a mapping or list that contains it",
                node.start_mark.line + 1,
                path,
            )
        self.open.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                    continue
                sub: tuple[PathPart, ...] = (*path, key_node.value)
                if sub in self.lines:
                    raise _DuplicateKey(key_node.value, key_node.start_mark.line + 1, sub)
                self.lines[sub] = key_node.start_mark.line + 1
                self.record(value_node, sub)
        else:
            for index, item in enumerate(node.value):
                sub = (*path, index)
                self.lines[sub] = item.start_mark.line + 1
                self.record(item, sub)
        self.open.discard(id(node))


def read_yaml(text: str, file: str | None = None) -> tuple[Any, Lines]:
    """Parse YAML text into plain data and a map from node path to 1-based line.

    Raises:
        ConfigError: the text is not valid YAML (with the line of the problem).
    """
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        # lines first: constructing flattens merge keys (`<<: *anchor`) into the mapping, and
        # a key written beside a merge overrides the merged one, as YAML says, no duplicate
        lines = _lines(node, file)
        data = loader.construct_document(node)
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply", file=file) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return data, lines


def _lines(node: yaml.Node, file: str | None) -> Lines:
    """Node path -> line of the document ``node``; a key written twice is an error."""
    lines: Lines = {(): node.start_mark.line + 1}
    try:
        _LineRecorder(lines).record(node, ())
    except _DuplicateKey as dup:
        raise ConfigError(
            f"duplicate key {dup.key!r}: the earlier one would be silently ignored",
            file=file,
            line=dup.line,
            field=dotted(dup.path),
        ) from None
    except _Unbounded as exc:
        raise ConfigError(
            exc.why, file=file, line=exc.line, field=dotted(exc.path) or None
        ) from None
    return lines


def _locate(loc: Sequence[Any], lines: Lines) -> tuple[tuple[PathPart, ...], int | None]:
    """Keep the parts of a pydantic location that exist in the YAML; find their line."""
    path: tuple[PathPart, ...] = ()
    for part in loc:
        for candidate in (part, str(part)):
            if (*path, candidate) in lines:
                path = (*path, candidate)
                break
    return path, lines.get(path)


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    loc = error.get("loc", ())
    if kind == "extra_forbidden" and loc:
        return f"unknown setting {loc[-1]!r}"
    if kind == "missing" and loc:
        return f"required setting {loc[-1]!r} is missing"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def _errors(exc: ValidationError, lines: Lines, file: str | None) -> list[ConfigError]:
    found: list[ConfigError] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error.get("loc", ()))
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, SpecIssues):
            parts = [((*loc, *sub), msg) for sub, msg in cause.issues]
        else:
            parts = [(loc, _message(error))]
        for full, message in parts:
            if not isinstance(cause, SpecIssues) and _inherited(full, lines):
                continue  # a bad default: reported once, under `defaults`
            known, line = _locate(full, lines)
            # name the full path even where the YAML has no node for it (a missing setting)
            field = dotted([p for p in full if p in known or not _is_tag(p)]) or None
            found.append(ConfigError(message, file=file, line=line, field=field))
    return found


def _inherited(loc: Sequence[Any], lines: Lines) -> bool:
    """The location is an entity setting copied from ``defaults`` (absent from the entity)."""
    return (
        len(loc) >= 3
        and loc[0] == "entities"
        and loc[2] in DEFAULTABLE
        and ("entities", str(loc[1])) in lines
        and ("entities", str(loc[1]), loc[2]) not in lines
    )


def _is_tag(part: Any) -> bool:
    """Pydantic inserts union / validator tags in locations; they are not settings."""
    return isinstance(part, str) and (
        "[" in part or part in ("EnvRef", "FileRef", "str", "interval", "continuous")
    )


def parse_flow(text: str, *, file: str | None = None, base_dir: Path | None = None) -> FlowSpec:
    """Validate flow-spec YAML text.

    Args:
        text: the YAML.
        file: the file name used in errors.
        base_dir: the folder relative paths start from (default: the current directory).

    Returns:
        The spec; it keeps the YAML positions, so later checks can name lines too
        (:meth:`FlowSpec.line_of`).

    Raises:
        ConfigError: the first problem, with file, line and field; the message lists the others.
    """
    data, lines = read_yaml(text, file)
    if not isinstance(data, dict):
        raise ConfigError(
            "a flow spec is a YAML mapping (version, name, connections...)", file=file, line=1
        )
    context = {"base_dir": str(base_dir or Path.cwd()), "file": file, "lines": lines}
    try:
        return FlowSpec.model_validate(data, context=context)
    except ValidationError as exc:
        errors = _errors(exc, lines, file)
    first, rest = errors[0], errors[1:]
    if not rest:
        raise first
    also = "".join(f"\n  also: {e}" for e in rest)
    raise ConfigError(f"{_bare(first)}{also}", file=first.file, line=first.line, field=first.field)


def _bare(error: ConfigError) -> str:
    text = str(error)
    where = ":".join(str(p) for p in (error.file, error.line) if p is not None)
    text = text.removeprefix(f"{where}: ") if where else text
    return text.removeprefix(f"{error.field}: ") if error.field else text


def load_flow(path: Path) -> FlowSpec:
    """Load and validate a flow spec file; relative paths in it are relative to its folder.

    Raises:
        ConfigError: unreadable file, invalid YAML or an invalid spec (file, line, field named).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read flow spec: {exc.strerror or exc}", file=str(path)) from None
    return parse_flow(text, file=str(path), base_dir=path.resolve().parent)


__all__ = ["flow_json_schema", "load_flow", "parse_flow", "read_yaml"]
