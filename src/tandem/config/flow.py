"""The flow spec: connections, defaults, value maps and entities, validated as a whole."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    model_validator,
)

from tandem.config.entity import EntitySpec
from tandem.config.fields import FieldSpec
from tandem.config.issues import Path as IssuePath
from tandem.config.issues import PathPart, dotted, raise_issues
from tandem.config.parts import DEFAULTABLE, Defaults, Side, ValueMapSpec
from tandem.config.secrets import (
    EnvRef,
    FileRef,
    absolutise,
    find_inline_secrets,
    has_url_password,
    is_reference,
    resolve_reference,
    sqlite_absolute,
)
from tandem.errors import BindingError, ConfigError
from tandem.model import validate_field

Lines = Mapping[IssuePath, int]
"""YAML node path -> its 1-based line in the flow file (:func:`tandem.config.loader.read_yaml`)."""


def _context_dir(info: ValidationInfo) -> tuple[Path, str | None]:
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    file = context.get("file")
    return (Path(base) if base else Path.cwd()), (str(file) if file else None)


def _nearest_line(lines: Lines, path: Sequence[PathPart]) -> int | None:
    """The line of the node at ``path``, else of its nearest enclosing node in the file."""
    where = tuple(path)
    for end in range(len(where), -1, -1):
        line = lines.get(where[:end])
        if line is not None:
            return line
    return None


_ENTITY_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")


class ConnectionSpec(BaseModel):
    """How to reach one system: ``type`` names the connector, the rest is its own settings.

    Secrets (passwords, tokens, client secrets, private keys, URLs with a password) must be
    references, ``{env: NAME}`` or ``{file: PATH}``; they are read only by
    :meth:`resolved_settings`, when the connection opens.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Connector kind: sql, salesforce, ...")

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _file: str | None = PrivateAttr(None)
    _name: str = PrivateAttr("")
    _lines: Lines = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _no_inline_secrets(self, info: ValidationInfo) -> Self:
        self._base_dir, self._file = _context_dir(info)
        raise_issues(find_inline_secrets(self.model_extra or {}))
        return self

    @property
    def settings(self) -> dict[str, Any]:
        """The connector settings as written (references unresolved, ``type`` left out)."""
        return copy.deepcopy(dict(self.model_extra or {}))

    def resolved_settings(self) -> dict[str, Any]:
        """The connector settings with every reference read into a :class:`SecretStr`.

        File-path settings (``*_file``, ``*_path``, ``*_dir``) and SQLite URLs are made absolute
        against the config file's folder.

        Raises:
            ConfigError: an environment variable is unset or a secret file unreadable (the
                file, the line of the setting holding the reference, and the setting named).
        """
        resolved: dict[str, Any] = self._resolve(
            self.settings, ("connections", self._name or self.type)
        )
        return resolved

    def _resolve(self, value: Any, path: IssuePath) -> Any:
        if is_reference(value):
            line = _nearest_line(self._lines, path) if self._name else None
            return resolve_reference(
                value, self._base_dir, file=self._file, line=line, field=dotted(path)
            )
        if isinstance(value, dict):
            return {
                key: absolutise(str(key), self._resolve(item, (*path, str(key))), self._base_dir)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self._resolve(item, (*path, i)) for i, item in enumerate(value)]
        return value


def _value_map_issues(
    entity: EntitySpec, spec: FieldSpec, value_maps: Mapping[str, ValueMapSpec]
) -> list[str]:
    """ERP values of a map (the canonical vocabulary) that the canonical field would refuse."""
    vm = value_maps[spec.value_map or ""]
    if spec.field.startswith("x_") or spec.ref is not None:
        return []
    bad: list[str] = []
    for erp_value in vm.targets("erp"):
        try:
            validate_field(entity.model, spec.field, erp_value)
        except ValueError as exc:
            bad.append(
                f"ERP value {erp_value!r} of value map {spec.value_map} is not a valid"
                f" {spec.field}: {exc}"
            )
    return bad[:3]


class FlowSpec(BaseModel):
    """A whole flow: what to keep consistent between one ERP and one CRM, and how."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(1, ge=1, le=1, description="Spec format version (1).")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Flow name.")
    state: str | EnvRef | FileRef | None = Field(
        None,
        description="SQLAlchemy URL of the state store; default <config dir>/.tandem/state.db."
        " After loading, a plain URL is absolute (relative SQLite paths resolved); a reference"
        " stays a reference: use state_url() to read it.",
    )
    connections: dict[str, ConnectionSpec] = Field(description="Exactly `erp` and `crm`.")
    defaults: Defaults = Field(default_factory=Defaults)
    prune_capture_days: float | None = Field(
        None,
        ge=0,
        description="`tandem run` prunes the ERP's change log after its first pass and then"
        " daily, keeping this many days (as `tandem erp prune --keep-days`); unset: only"
        " `tandem erp prune` prunes.",
    )
    describe_cache_seconds: float = Field(
        3600.0,
        ge=0,
        description="Reuse a system's description of an object saved by an earlier run for"
        " this long instead of describing it again (a describe is an API call on Salesforce);"
        " 0 describes at every start. `tandem check` and `tandem run` always describe at start,"
        " and a running `tandem run` describes again at this interval (drift is logged; a"
        " mapping that no longer fits stops it); a write the system"
        " refuses as a whole makes the next start describe again.",
    )
    value_maps: dict[str, ValueMapSpec] = Field(default_factory=dict)
    entities: dict[str, EntitySpec] = Field(min_length=1)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _file: str | None = PrivateAttr(None)
    _lines: dict[IssuePath, int] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        """Entities inherit unset settings from ``defaults`` and take their name from their key."""
        if not isinstance(data, dict):
            return data
        raw_defaults = data.get("defaults")
        defaults: dict[str, Any] = raw_defaults if isinstance(raw_defaults, dict) else {}
        entities = data.get("entities")
        if not isinstance(entities, dict):
            return data
        merged: dict[Any, Any] = {}
        for name, raw in entities.items():
            if isinstance(raw, dict):
                raw = dict(raw)
                raw.setdefault("name", str(name))
                for key in DEFAULTABLE:
                    if key not in raw and key in defaults:
                        raw[key] = copy.deepcopy(defaults[key])
            merged[name] = raw
        return {**data, "entities": merged}

    @model_validator(mode="after")
    def _cross_check(self, info: ValidationInfo) -> Self:
        self._base_dir, self._file = _context_dir(info)
        context = info.context if isinstance(info.context, dict) else {}
        lines = context.get("lines")
        self._lines = dict(lines) if isinstance(lines, Mapping) else {}
        for name, connection in self.connections.items():
            connection._name = name
            connection._lines = self._lines
        raise_issues(self._issues())
        if self.state is None or isinstance(self.state, str):
            self.state = self.state_url()  # plain URLs are made absolute at load
        return self

    def _issues(self) -> list[tuple[IssuePath, str]]:
        issues: list[tuple[IssuePath, str]] = []
        if isinstance(self.state, str) and has_url_password(self.state):
            issues.append(
                (("state",), "this URL carries a password: use {env: NAME} or {file: PATH}")
            )
        for side in ("erp", "crm"):
            if side not in self.connections:
                issues.append((("connections",), f"a flow needs a connection named {side}"))
        for name, entity in self.entities.items():
            at: IssuePath = ("entities", name)
            if not _ENTITY_NAME.fullmatch(name):
                issues.append(
                    (
                        at,
                        f"entity name {name!r}: letters, digits, '_', '.' and '-' only, at most"
                        " 100 (it names the entity in the state store, the logs and commands)",
                    )
                )
            if entity.name != name:
                issues.append(((*at, "name"), f"the entity's name must be its key {name!r}"))
            for index, dep in enumerate(entity.depends_on):
                if dep not in self.entities:
                    issues.append(((*at, "depends_on", index), f"unknown entity {dep!r}"))
            for index, spec in enumerate(entity.fields):
                if spec.value_map is not None and spec.value_map not in self.value_maps:
                    issues.append(
                        (
                            (*at, "fields", index, "value_map"),
                            f"unknown value map {spec.value_map!r}",
                        )
                    )
                elif spec.value_map is not None:
                    issues.extend(
                        ((*at, "fields", index, "value_map"), message)
                        for message in _value_map_issues(entity, spec, self.value_maps)
                    )
                if spec.ref is not None and spec.ref not in self.entities:
                    issues.append(((*at, "fields", index, "ref"), f"unknown entity {spec.ref!r}"))
        if not issues:
            cycle = self._cycle()
            if cycle:
                issues.append(
                    (
                        ("entities", cycle[0], "depends_on"),
                        f"dependency cycle: {' -> '.join(cycle)}",
                    )
                )
        return issues

    def _edges(self) -> dict[str, list[str]]:
        """entity -> the entities it needs first (depends_on and refs; self-refs ignored)."""
        needs: dict[str, list[str]] = {}
        for name, entity in self.entities.items():
            wanted = [*entity.depends_on, *(f.ref for f in entity.fields if f.ref)]
            needs[name] = [w for w in dict.fromkeys(wanted) if w != name and w in self.entities]
        return needs

    def _cycle(self) -> list[str]:
        needs = self._edges()
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(node: str) -> list[str]:
            state[node] = 1
            stack.append(node)
            for dep in needs[node]:
                if state.get(dep) == 1:
                    return [*stack[stack.index(dep) :], dep]
                if dep not in state:
                    found = visit(dep)
                    if found:
                        return found
            stack.pop()
            state[node] = 2
            return []

        for name in self.entities:
            if name not in state:
                found = visit(name)
                if found:
                    return found
        return []

    @property
    def base_dir(self) -> Path:
        """The folder relative paths start from (the config file's folder)."""
        return self._base_dir

    @property
    def source_file(self) -> str | None:
        """The config file this spec was loaded from, when known."""
        return self._file

    def line_of(self, path: Sequence[PathPart]) -> int | None:
        """The 1-based line in :attr:`source_file` of the setting at ``path``.

        A setting absent from the file is placed at its nearest enclosing one that is there;
        an entity setting inherited from ``defaults`` at its line under ``defaults``.

        Args:
            path: the setting's location, e.g. ``("entities", "customer", "fields", 2, "crm")``.

        Returns:
            The line, or None when the spec was not loaded from YAML text.
        """
        lines = self._lines
        where = tuple(path)
        if (
            len(where) >= 3
            and where[0] == "entities"
            and where[2] in DEFAULTABLE
            and where[:3] not in lines
            and ("defaults", where[2]) in lines
        ):
            where = ("defaults", *where[2:])
        return _nearest_line(lines, where)

    def place(self, error: ConfigError, side: Side) -> ConfigError:
        """``error`` placed in :attr:`source_file` when a connector raised it about a binding.

        A connector names what it found wrong in an entity's binding (a :class:`BindingError`:
        the setting and the native name), not where the flow file says it; this finds the exact
        setting (``entities.customer.fields[0].erp``) and its line, as for a field a system's
        description lacks (:meth:`line_of`).

        Args:
            error: what the connector of ``side`` raised.
            side: the system whose connector raised it.

        Returns:
            A :class:`BindingError` naming the file, the line and the setting; ``error`` itself
            when it is placed already or is not about an entity of this flow.
        """
        if not isinstance(error, BindingError):
            return error
        placed = self._placed(error, side)
        if placed is not error:
            placed.also = tuple(self._placed(more, side) for more in error.also)
        return placed

    def _placed(self, error: BindingError, side: Side) -> BindingError:
        entity = self.entities.get(error.entity)
        if entity is None or error.file is not None:
            return error
        path = ("entities", entity.name, *entity.native_path(side, error.native, error.setting))
        return BindingError(
            error.detail,
            entity=error.entity,
            setting=error.setting,
            native=error.native,
            file=self._file,
            line=self.line_of(path),
            field=dotted(path),
        )

    def entity(self, name: str) -> EntitySpec:
        """The entity named ``name``.

        Raises:
            KeyError: no such entity.
        """
        return self.entities[name]

    def ordered_entities(self) -> list[EntitySpec]:
        """Entities in dependency order (depends_on and refs first), else declaration order.

        Raises:
            ConfigError: the dependencies form a cycle.
        """
        cycle = self._cycle()
        if cycle:
            raise ConfigError(
                f"dependency cycle: {' -> '.join(cycle)}",
                file=self._file,
                field=f"entities.{cycle[0]}.depends_on",
            )
        needs = self._edges()
        done: list[str] = []
        pending = list(self.entities)
        while pending:
            ready = next(n for n in pending if all(d in done for d in needs[n]))
            done.append(ready)
            pending.remove(ready)
        return [self.entities[n] for n in done]

    def state_url(self) -> str:
        """The state store's SQLAlchemy URL (resolved; relative SQLite paths made absolute).

        The result may hold a password: never log it.

        Raises:
            ConfigError: the referenced variable or file is missing.
        """
        if self.state is None:
            return f"sqlite:///{(self._base_dir / '.tandem' / 'state.db').resolve()}"
        if isinstance(self.state, str):
            return sqlite_absolute(self.state, self._base_dir)
        secret: SecretStr = resolve_reference(
            self.state.model_dump(),
            self._base_dir,
            file=self._file,
            line=self.line_of(("state",)),
            field="state",
        )
        return sqlite_absolute(secret.get_secret_value(), self._base_dir)


__all__ = ["ConnectionSpec", "FlowSpec"]
