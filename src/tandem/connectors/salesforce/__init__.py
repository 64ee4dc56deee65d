"""The Salesforce connector: REST (sObject Collections, SOQL), Bulk API 2.0, OAuth 2.0.

Public API::

    SalesforceConnector(settings)      the Connector contract (tandem.connectors.base)
    SalesforceSettings                 its settings (pydantic; secrets are SecretStr)
    SalesforceClient                   the vendor calls, for tools that need them directly
    create_connector(settings)         the registry's factory

The names load on first use, so that importing :mod:`tandem.connectors.salesforce.settings`
alone (``tandem schema``) does not load the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tandem.connectors.lazy import lazy_names

if TYPE_CHECKING:
    from tandem.connectors.salesforce.client import SalesforceClient
    from tandem.connectors.salesforce.connector import SalesforceConnector
    from tandem.connectors.salesforce.settings import SalesforceSettings

__all__ = ["SalesforceClient", "SalesforceConnector", "SalesforceSettings", "create_connector"]

_LAZY = {
    "SalesforceClient": "client",
    "SalesforceConnector": "connector",
    "SalesforceSettings": "settings",
}


__getattr__ = lazy_names(__name__, _LAZY)


def create_connector(settings: Mapping[str, Any]) -> SalesforceConnector:
    """Build a :class:`SalesforceConnector` from a settings mapping (the registry's factory)."""
    from tandem.connectors.salesforce.connector import SalesforceConnector

    return SalesforceConnector(settings)
