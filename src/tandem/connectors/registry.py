"""Connector type name -> factory and settings model, imported only when that type is used.

A connector package exposes ``create_connector(settings: Mapping[str, Any]) -> Connector``;
registering it is one line in :data:`FACTORIES` (``"type": "module.path:function"``), or a call
to :func:`register_connector` at run time (plugins, tests). The pydantic model its factory
validates the settings with goes in :data:`SETTINGS`: ``tandem schema`` describes a connection
of that type from it (:func:`settings_model`), importing only that model's module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from tandem.connectors.base import Connector
from tandem.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "FACTORIES",
    "SETTINGS",
    "available_connectors",
    "create_connector",
    "register_connector",
    "settings_model",
]

Factory = Callable[[Mapping[str, Any]], Connector]

FACTORIES: dict[str, str | Factory] = {
    "salesforce": "tandem.connectors.salesforce:create_connector",
    "sql": "tandem.connectors.sql:create_connector",
}
"""Type name -> ``"module:function"`` (imported lazily) or the factory itself."""

SETTINGS: dict[str, str | type[BaseModel]] = {
    "salesforce": "tandem.connectors.salesforce.settings:SalesforceSettings",
    "sql": "tandem.connectors.sql.settings:SqlSettings",
}
"""Type name -> the pydantic model of its settings (``"module:Class"``, imported lazily).

The model must be the one the factory validates a connection's settings with (secrets as
:class:`~pydantic.SecretStr` fields); a type without one has an open schema.
"""


def register_connector(
    type_name: str, factory: str | Factory, settings: str | type[BaseModel] | None = None
) -> None:
    """Register (or replace) the factory of a connector type.

    Args:
        type_name: the ``type`` of a connection.
        factory: the factory, or ``"module:function"``.
        settings: the pydantic model the factory validates settings with (or
            ``"module:Class"``), for ``tandem schema``; ``None``: no model, any settings.
    """
    FACTORIES[type_name] = factory
    if settings is None:
        SETTINGS.pop(type_name, None)
    else:
        SETTINGS[type_name] = settings


def available_connectors() -> list[str]:
    """The registered connector type names, sorted."""
    return sorted(FACTORIES)


def _load(type_name: str) -> Factory:
    try:
        target = FACTORIES[type_name]
    except KeyError:
        known = ", ".join(available_connectors())
        raise ConfigError(
            f"unknown connector type {type_name!r} (known: {known})", field="type"
        ) from None
    if callable(target):
        return target
    return cast(Factory, _import(type_name, target))


def _import(type_name: str, target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"connector type {type_name!r} cannot be loaded ({exc}); is its extra installed?",
            field="type",
        ) from exc
    return getattr(module, attribute)


def settings_model(type_name: str) -> type[BaseModel] | None:
    """The pydantic model of a connector type's settings; ``None`` when it has none registered.

    Raises:
        ConfigError: the model's module cannot be imported.
    """
    target = SETTINGS.get(type_name)
    if target is None or not isinstance(target, str):
        return target
    model: type[BaseModel] = _import(type_name, target)
    return model


def create_connector(type: str, settings: Mapping[str, Any]) -> Connector:
    """Build a connector of the given type from its settings.

    Args:
        type: the registered type name, e.g. ``salesforce`` or ``sql``.
        settings: the connector's settings, secrets already resolved.

    Returns:
        The connector, not yet opened.

    Raises:
        ConfigError: the type is unknown or its settings are invalid.
    """
    return _load(type)(settings)
