"""Connector type name -> factory, imported only when that type is used.

A connector package exposes ``create_connector(settings: Mapping[str, Any]) -> Connector``;
registering it is one line in :data:`FACTORIES` (``"type": "module.path:function"``), or a call
to :func:`register_connector` at run time (plugins, tests).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, cast

from tandem.connectors.base import Connector
from tandem.errors import ConfigError

__all__ = ["FACTORIES", "available_connectors", "create_connector", "register_connector"]

Factory = Callable[[Mapping[str, Any]], Connector]

FACTORIES: dict[str, str | Factory] = {
    "salesforce": "tandem.connectors.salesforce:create_connector",
    "sql": "tandem.connectors.sql:create_connector",
}
"""Type name -> ``"module:function"`` (imported lazily) or the factory itself."""


def register_connector(type_name: str, factory: str | Factory) -> None:
    """Register (or replace) the factory of a connector type."""
    FACTORIES[type_name] = factory


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
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"connector type {type_name!r} cannot be loaded ({exc}); is its extra installed?",
            field="type",
        ) from exc
    return cast(Factory, getattr(module, attribute))


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
