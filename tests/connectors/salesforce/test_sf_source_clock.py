"""The org's clock as the connector tells it: from the ``Date`` of the org's answers.

The engine decides by this clock whether a read may skip its overlap window (the stamps it
compares with are the org's ``SystemModstamp``s), so an org whose clock runs behind the
agent's must be told as it is, and never later than it is.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from test_sf_sandbox import settings_for

from tandem.connectors.salesforce import SalesforceConnector
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

pytestmark = pytest.mark.slow


@dataclass
class _Behind:
    """The org's clock: ``offset`` from real time."""

    offset: timedelta

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def behind() -> _Behind:
    return _Behind(timedelta(seconds=-30))


@pytest.fixture
def sandbox(tmp_path: Path, behind: _Behind) -> Iterator[SandboxHandle]:
    with running_sandbox(tmp_path / "crm", clock=behind) as handle:
        yield handle


def test_every_answer_is_dated_by_the_org_clock(sandbox: SandboxHandle, behind: _Behind) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(sandbox.ca_file))) as http:
        answer = http.get(f"{sandbox.base_url}/services/data")
    dated = parsedate_to_datetime(answer.headers["date"])
    assert answer.headers.get_list("date") == [answer.headers["date"]]  # one Date, not two
    assert behind() - timedelta(seconds=2) <= dated <= behind()


async def test_the_connector_tells_the_org_time_without_a_call(
    sandbox: SandboxHandle, behind: _Behind
) -> None:
    connector = SalesforceConnector(settings_for(sandbox))
    await connector.open()
    try:
        calls = connector.calls_made  # the token's answer tells the time: no API call
        told = await connector.source_time()
        after = behind()
        assert connector.calls_made == calls
        assert told is not None
        assert told <= after  # never later than the org's clock
        assert told >= after - timedelta(seconds=3)  # and 30 s behind the agent, as it is
        assert told < datetime.now(UTC) - timedelta(seconds=25)
    finally:
        await connector.close()
