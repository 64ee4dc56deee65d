"""Reads against the HTTPS sandbox with keys and values that are not what they should be."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from test_sf_sandbox import settings_for

from tandem.connectors.base import EntityBinding, WriteOp
from tandem.connectors.salesforce import SalesforceConnector
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

pytestmark = pytest.mark.slow

ACCOUNT = EntityBinding(
    name="customer",
    source="Account",
    key="Id",
    fields=("Name", "Description"),
    external_id="ERP_Id__c",
)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with running_sandbox(tmp_path / "crm") as handle:
        yield handle


@pytest.fixture
async def connector(sandbox: SandboxHandle) -> AsyncIterator[SalesforceConnector]:
    c = SalesforceConnector(settings_for(sandbox))
    await c.open()
    yield c
    await c.close()


async def test_keys_that_are_no_record_id_are_not_found_instead_of_failing_the_read(
    connector: SalesforceConnector,
) -> None:
    # Keys come from the ERP too (a record's own CRM-id column, read to claim its partner):
    # whatever a person typed there must not fail every pass, and must not reach the SOQL.
    written = await connector.write_batch(
        ACCOUNT, [WriteOp("upsert", "e1", {"Name": "A", "Description": "d"}, match="E1")]
    )
    key = written[0].key
    assert key is not None
    typed = ["N/A", "x' OR Name != '", "a\\' OR Id != '", "\\", "", f"{key} ", key, "-"]
    typed += ["TBD", "0" * 19, "001MISSING0000000"]  # letters and digits, not 15 or 18
    found = await connector.read_records(ACCOUNT, typed)
    assert list(found) == [key]
    assert found[key].fields["Name"] == "A"
    assert await connector.read_records(ACCOUNT, ["N/A"]) == {}
