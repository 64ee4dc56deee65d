"""The JSON Schema of a flow spec, each connection described by its connector's settings model.

A connection is loaded as ``type`` plus free settings (:class:`~tandem.config.ConnectionSpec`);
its connector validates them when it is built, with the pydantic model registered for its type
(:data:`tandem.connectors.registry.SETTINGS`). The schema says the same in one place: a union of
one variant per registered type (``$defs.SqlConnection``...), chosen by ``type`` (an
``if``/``then`` per type, so that a validator reports the variant's own errors), each listing
its connector's settings with their types, defaults and descriptions.

What the loader checks is in it too: a secret (a ``SecretStr`` setting whose name says secret:
``password``, ``client_secret``...) is only a reference, ``{env: NAME}`` or ``{file: PATH}``;
another ``SecretStr`` setting (a database URL) is a string or a reference; no string setting
is a URL carrying a password.

Only a type's settings model is imported, and only when the schema is asked for.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel

from tandem.config.flow import FlowSpec
from tandem.config.secrets import URL_WITH_PASSWORD, EnvRef, FileRef, is_secret_key
from tandem.connectors.registry import available_connectors, settings_model

Schema = dict[str, Any]

SECRET_REF = "SecretRef"
_NO_URL_PASSWORD: Schema = {"not": {"pattern": URL_WITH_PASSWORD}}
"""What the loader refuses in any string setting: a URL that carries a password."""
_SECRET_LEAF = ("type", "format", "writeOnly")


def flow_json_schema() -> Schema:
    """The JSON Schema of a flow spec (printed by ``tandem schema``).

    Raises:
        ConfigError: a registered connector's settings model cannot be imported.
    """
    schema = FlowSpec.model_json_schema(mode="validation")
    defs: Schema = schema.setdefault("$defs", {})
    for ref in (EnvRef, FileRef):
        defs.setdefault(ref.__name__, ref.model_json_schema())
    defs[SECRET_REF] = {
        "title": SECRET_REF,
        "description": "A secret, never inline: {env: NAME} (an environment variable) or"
        " {file: PATH} (a file, relative to the flow file; a final newline is dropped).",
        "anyOf": [{"$ref": "#/$defs/EnvRef"}, {"$ref": "#/$defs/FileRef"}],
    }
    connection = defs.get("ConnectionSpec", {})
    types = available_connectors()
    dispatch: list[Schema] = []
    for type_name in types:
        name = _variant_name(type_name)
        defs[name] = connection_schema(type_name, defs, prefix=f"{name}_")
        dispatch.append(
            {
                "if": {"properties": {"type": {"const": type_name}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/{name}"},
            }
        )
    defs["ConnectionSpec"] = {
        "title": "ConnectionSpec",
        "description": connection.get("description", ""),
        "type": "object",
        "properties": {"type": {"enum": types, "title": "Type", "description": "The connector."}},
        "required": ["type"],
        "allOf": dispatch,
    }
    connections = schema["properties"]["connections"]
    connections["required"] = ["erp", "crm"]
    state = schema["properties"].get("state", {})
    for branch in state.get("anyOf", []):
        if branch == {"type": "string"}:
            branch.update(copy.deepcopy(_NO_URL_PASSWORD))
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Tandem flow spec",
        **schema,
    }


def connection_schema(type_name: str, defs: Schema, *, prefix: str = "") -> Schema:
    """The schema of one connection of ``type_name``: ``type`` and its connector's settings.

    Args:
        type_name: a registered connector type.
        defs: the ``$defs`` of the whole schema; the settings model's own definitions are added
            under ``prefix`` (they must hold ``EnvRef``, ``FileRef`` and ``SecretRef``).
        prefix: put before the names of the model's definitions.

    Raises:
        ConfigError: the type's settings model cannot be imported.
    """
    type_schema: Schema = {
        "const": type_name,
        "title": "Type",
        "description": f"The connector: {type_name}.",
    }
    model = settings_model(type_name)
    if model is None:
        return {
            "title": _variant_name(type_name),
            "description": f"A {type_name} connection (its settings are not described).",
            "type": "object",
            "properties": {"type": type_schema},
            "required": ["type"],
            "additionalProperties": True,
        }
    raw = model.model_json_schema(mode="validation", ref_template=f"#/$defs/{prefix}{{model}}")
    for def_name, definition in raw.pop("$defs", {}).items():
        defs[f"{prefix}{def_name}"] = _settings(definition)
    settings: Schema = _settings(raw)
    settings["title"] = _variant_name(type_name)
    settings["properties"] = {"type": type_schema, **settings.get("properties", {})}
    settings["required"] = ["type", *settings.get("required", [])]
    _other_names(model, settings)
    return settings


def _variant_name(type_name: str) -> str:
    words = re.split(r"[^A-Za-z0-9]+", type_name)
    return "".join(word[:1].upper() + word[1:] for word in words) + "Connection"


def _settings(node: Any) -> Any:
    """A copy of a settings schema with secrets as references and no URL with a password."""
    if isinstance(node, list):
        return [_settings(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Schema = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _secret(name, _settings(sub)) for name, sub in value.items()}
        elif key in ("default", "const", "enum", "examples"):
            out[key] = copy.deepcopy(value)
        else:
            out[key] = _settings(value)
    plain = not {"enum", "const", "not"} & out.keys() and out.get("format") != "password"
    if out.get("type") == "string" and plain:
        out.update(copy.deepcopy(_NO_URL_PASSWORD))
    return out


def _secret(name: str, node: Any) -> Any:
    """Turn the ``SecretStr`` parts of setting ``name`` into the shape the loader accepts."""
    if not isinstance(node, dict):
        return node
    if node.get("format") == "password" and node.get("type") == "string":
        rest = {k: v for k, v in node.items() if k not in _SECRET_LEAF}
        ref: Schema = {"$ref": f"#/$defs/{SECRET_REF}"}
        if is_secret_key(name):
            return {**rest, **ref}
        plain = {"type": "string", **copy.deepcopy(_NO_URL_PASSWORD)}
        return {**rest, "anyOf": [plain, ref]}
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            node = {**node, key: [_secret(name, branch) for branch in node[key]]}
    return node


def _other_names(model: type[BaseModel], schema: Schema) -> None:
    """A model that also takes fields by name (not only by alias): list those names too."""
    config = model.model_config
    if not (config.get("validate_by_name") or config.get("populate_by_name")):
        return
    properties: Schema = schema["properties"]
    rules: list[Schema] = schema.setdefault("allOf", [])
    required: list[str] = schema["required"]
    for field_name, field in model.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        if not alias or alias == field_name or alias not in properties:
            continue
        properties[field_name] = {
            **properties[alias],
            "title": field_name.replace("_", " ").title(),
            "description": f"Another name of `{alias}`.",
            "deprecated": True,
        }
        rules.append({"not": {"required": [alias, field_name]}})
        if alias in required:
            required.remove(alias)
            rules.append({"anyOf": [{"required": [alias]}, {"required": [field_name]}]})


__all__ = ["SECRET_REF", "connection_schema", "flow_json_schema"]
