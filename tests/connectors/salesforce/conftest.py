"""Fixtures of the Salesforce connector tests (strict stubs, fake sleep, settings)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sf_stubs import CLIENT_SECRET, LOGIN, PASSWORD, FakeSleep, MaxRng, StrictStub

from tandem.connectors.salesforce import SalesforceConnector, SalesforceSettings
from tandem.connectors.salesforce.bulk import BulkApi
from tandem.connectors.salesforce.client import SalesforceClient


@pytest.fixture
def stub() -> Iterator[StrictStub]:
    s = StrictStub()
    yield s


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def settings() -> SalesforceSettings:
    return SalesforceSettings(
        auth_flow="password",
        login_url=LOGIN,
        client_id="consumer-key",
        client_secret=CLIENT_SECRET,
        username="integration@acme.test",
        password=PASSWORD,
        max_retries=3,
        backoff_base=0.5,
        backoff_cap=8.0,
    )


@pytest.fixture
def make_client(
    stub: StrictStub, fake_sleep: FakeSleep, settings: SalesforceSettings
) -> Callable[..., SalesforceClient]:
    def make(**overrides: Any) -> SalesforceClient:
        s = settings.model_copy(update=overrides) if overrides else settings
        return SalesforceClient(
            s,
            http_transport=httpx.MockTransport(stub),
            sleep=fake_sleep,
            rng=MaxRng(),  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def make_connector(
    stub: StrictStub, fake_sleep: FakeSleep, settings: SalesforceSettings
) -> Callable[..., SalesforceConnector]:
    def make(**overrides: Any) -> SalesforceConnector:
        s = settings.model_copy(update=overrides) if overrides else settings
        return SalesforceConnector(
            s,
            http_transport=httpx.MockTransport(stub),
            sleep=fake_sleep,
            rng=MaxRng(),  # type: ignore[arg-type]
        )

    return make


@pytest.fixture
def bulk(stub: StrictStub, make_client: Callable[..., SalesforceClient]) -> BulkApi:
    """The Bulk API over the stubs, a token answered, the first poll after 0.5 s."""
    stub.token()
    return BulkApi(make_client(bulk_poll_interval=0.5))
