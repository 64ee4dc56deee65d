"""The connector registry: type name -> factory, imported lazily."""

from __future__ import annotations

from typing import Any

import pytest

from tandem.connectors import registry
from tandem.connectors.base import Connector
from tandem.connectors.salesforce import SalesforceConnector
from tandem.errors import ConfigError


async def test_salesforce_is_registered() -> None:
    connector = registry.create_connector(
        "salesforce",
        {
            "auth_flow": "client_credentials",
            "login_url": "https://acme.my.example.com",
            "client_id": "ck",
            "client_secret": "cs",
        },
    )
    assert isinstance(connector, SalesforceConnector)
    assert isinstance(connector, Connector)
    assert "salesforce" in registry.available_connectors()
    await connector.close()


def test_unknown_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown connector type 'nope'"):
        registry.create_connector("nope", {})


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        registry.create_connector("salesforce", {"auth_flow": "jwt", "client_id": "x", "bogus": 1})
    assert info.value.field == "bogus"


def test_register_a_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    def factory(settings: Any) -> Any:
        made.append(settings)
        return object()

    monkeypatch.setitem(registry.FACTORIES, "dummy", factory)
    registry.create_connector("dummy", {"a": 1})
    assert made == [{"a": 1}]
