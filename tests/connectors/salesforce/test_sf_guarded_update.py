"""Guarded updates against the sandbox on a clock the test sets: sObject Rows PATCHes with
``If-Unmodified-Since`` in Composite calls; the same-second edit the header cannot see; an
org that compares finer than a second."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_sf_sandbox import settings_for

from tandem.connectors.base import Change, EntityBinding, WriteGuard, WriteOp
from tandem.connectors.salesforce import SalesforceConnector
from tandem.connectors.salesforce.guarded import CHANGED
from tandem.sandbox.salesforce import conditional
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

pytestmark = pytest.mark.slow

ACCOUNT = EntityBinding(
    name="customer", source="Account", key="Id", fields=("Name", "Phone"), external_id="ERP_Id__c"
)

T0 = datetime(2026, 3, 2, 10, 0, 5, 300_000, tzinfo=UTC)
"""When the account is created: 10:00:05.300 by the org's clock."""


@dataclass
class OrgClock:
    """The org's clock, moved by the test and by the connector's waits (its ``sleep``)."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Org:
    crm: SandboxHandle
    clock: OrgClock
    connector: SalesforceConnector
    account: str

    async def read(self) -> tuple[Change, datetime]:
        """The account as the pipeline reads it, and when (by the org's clock)."""
        read_at = self.clock.now
        return (await self.connector.read_records(ACCOUNT, [self.account]))[self.account], read_at

    def user_edit(self, phone: str) -> None:
        self.crm.org.update("Account", self.account, {"Phone": phone})

    def phone(self) -> object:
        return self.crm.org.retrieve("Account", self.account, ["Phone"], "59.0")["Phone"]


@pytest.fixture
def crm(tmp_path: Path) -> Iterator[tuple[SandboxHandle, OrgClock]]:
    clock = OrgClock()
    with running_sandbox(tmp_path / "crm", clock=clock) as handle:
        yield handle, clock


@pytest.fixture
async def org(crm: tuple[SandboxHandle, OrgClock]) -> AsyncIterator[Org]:
    handle, clock = crm
    connector = SalesforceConnector(settings_for(handle), sleep=clock.sleep)
    await connector.open()
    account = handle.org.create("Account", {"Name": "Acme", "Phone": "+48 1"})
    try:
        yield Org(handle, clock, connector, account)
    finally:
        await connector.close()


def _update(org: Org, read: Change, read_at: datetime | None, phone: str) -> WriteOp:
    guard = WriteGuard({"Phone": read.fields["Phone"]}, read.modified_at, read_at)
    return WriteOp("update", "erp-1", {"Phone": phone}, key=org.account, guard=guard)


async def test_a_record_as_read_is_written_in_one_composite_call(org: Org) -> None:
    org.clock.now = T0 + timedelta(seconds=3)  # read seconds after the record's last edit
    read, read_at = await org.read()
    calls = org.connector.calls_made
    (out,) = await org.connector.write_batch(ACCOUNT, [_update(org, read, read_at, "+48 2")])
    assert out.ok and out.key == org.account
    assert org.connector.calls_made - calls == 1  # one Composite call, nothing read first
    assert org.crm.state.requests["POST composite 200"] == 1
    assert org.phone() == "+48 2"


async def test_an_edit_after_the_read_is_refused_and_nothing_written(org: Org) -> None:
    org.clock.now = T0 + timedelta(seconds=3)
    read, read_at = await org.read()
    org.clock.now = T0 + timedelta(seconds=4)
    org.user_edit("+48 user")
    calls = org.connector.calls_made
    (out,) = await org.connector.write_batch(ACCOUNT, [_update(org, read, read_at, "+48 2")])
    assert not out.ok and out.changed
    assert out.error is not None and out.error.code == CHANGED
    assert org.connector.calls_made - calls == 2  # the Composite call (412), a read after it
    assert org.phone() == "+48 user"


async def test_an_edit_in_the_same_second_as_the_stamp_read_is_caught(org: Org) -> None:
    """Read at 10:00:05.400 a record stamped 10:00:05.300; edited at 10:00:05.700. The header
    says ``10:00:05`` and cannot tell: the connector waits for the org's clock to leave that
    second and reads again, sees the edit and writes nothing."""
    org.clock.now = T0 + timedelta(milliseconds=100)
    read, read_at = await org.read()
    org.clock.now = T0 + timedelta(milliseconds=400)
    org.user_edit("+48 same second")
    calls = org.connector.calls_made
    (out,) = await org.connector.write_batch(ACCOUNT, [_update(org, read, read_at, "+48 2")])
    assert out.changed
    assert org.connector.calls_made - calls == 1  # the read after the second: no write sent
    assert org.clock.now >= T0.replace(microsecond=0) + timedelta(seconds=1)
    assert org.phone() == "+48 same second"


async def test_a_record_read_in_its_stamps_second_and_unchanged_is_written(org: Org) -> None:
    org.clock.now = T0 + timedelta(milliseconds=100)
    read, read_at = await org.read()
    (out,) = await org.connector.write_batch(ACCOUNT, [_update(org, read, read_at, "+48 2")])
    assert out.ok
    assert org.phone() == "+48 2"


async def test_an_org_comparing_finer_than_a_second_gets_the_next_second(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An org comparing 10:00:05.300 itself with ``10:00:05`` answers 412 to a record still as
    read; the read after the 412 shows it unchanged, and the update goes with ``10:00:06``."""

    def exactly(row: dict[str, object], since: datetime) -> bool:
        stamp = conditional.parse_datetime(str(row["LastModifiedDate"]))
        return stamp is None or stamp > since

    monkeypatch.setattr(conditional, "modified_after", exactly)
    org.clock.now = T0 + timedelta(seconds=3)
    read, read_at = await org.read()
    calls = org.connector.calls_made
    (out,) = await org.connector.write_batch(ACCOUNT, [_update(org, read, read_at, "+48 2")])
    assert out.ok
    assert org.connector.calls_made - calls == 3  # 412, the read, the update again
    assert org.phone() == "+48 2"
