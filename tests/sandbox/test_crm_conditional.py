"""Conditional request headers on sObject Rows: ``If-Unmodified-Since`` (GET, PATCH) and
``If-Modified-Since`` (GET), raw over HTTPS and through unchanged simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from crm_clients import api_client, sandbox_session
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

T0 = datetime(2026, 3, 2, 10, 0, 5, 300_000, tzinfo=UTC)
"""The org's clock when the record is created: 10:00:05.300."""


@dataclass
class OrgClock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Org:
    crm: SandboxHandle
    clock: OrgClock
    api: httpx.Client
    account: str


@pytest.fixture
def org(tmp_path: Path) -> Iterator[Org]:
    clock = OrgClock()
    with running_sandbox(tmp_path / "crm", clock=clock) as crm, api_client(crm) as api:
        account = crm.org.create("Account", {"Name": "Acme", "Phone": "+48 1"})
        yield Org(crm, clock, api, account)


def _date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _phone(org: Org) -> object:
    return org.crm.org.retrieve("Account", org.account, ["Phone"], "59.0")["Phone"]


def _stamp(org: Org) -> object:
    row = org.crm.org.retrieve("Account", org.account, ["LastModifiedDate"], "59.0")
    return row["LastModifiedDate"]


def test_patch_unmodified_since_the_date_read_is_made(org: Org) -> None:
    """Modified at 10:00:05.300: not modified after ``10:00:05`` (the header's whole second)."""
    org.clock.now = T0 + timedelta(seconds=3)
    answer = org.api.patch(
        f"sobjects/Account/{org.account}",
        json={"Phone": "+48 2"},
        headers={"If-Unmodified-Since": _date(T0)},
    )
    assert answer.status_code == 204
    assert _phone(org) == "+48 2"


def test_patch_of_a_record_modified_after_the_date_is_412_and_changes_nothing(org: Org) -> None:
    org.clock.now = T0 + timedelta(seconds=2)
    org.crm.org.update("Account", org.account, {"Phone": "+48 user"})  # the user's edit
    stamp = _stamp(org)
    org.clock.now = T0 + timedelta(seconds=4)
    answer = org.api.patch(
        f"sobjects/Account/{org.account}",
        json={"Phone": "+48 tandem"},
        headers={"If-Unmodified-Since": _date(T0)},
    )
    assert answer.status_code == 412
    assert answer.content == b""
    assert _phone(org) == "+48 user"
    assert _stamp(org) == stamp  # not touched at all


def test_an_edit_in_the_same_second_as_the_date_is_not_seen(org: Org) -> None:
    """The documented resolution of the header: an HTTP-date has whole seconds, so an edit at
    10:00:05.800 of a record read at 10:00:05.300 passes ``If-Unmodified-Since: 10:00:05``
    (what a client must allow for: Tandem's connector reads again once the second is over)."""
    org.clock.now = T0 + timedelta(milliseconds=500)
    org.crm.org.update("Account", org.account, {"Phone": "+48 same second"})
    answer = org.api.patch(
        f"sobjects/Account/{org.account}",
        json={"Phone": "+48 tandem"},
        headers={"If-Unmodified-Since": _date(T0)},
    )
    assert answer.status_code == 204


def test_an_invalid_date_on_patch_is_400(org: Org) -> None:
    answer = org.api.patch(
        f"sobjects/Account/{org.account}",
        json={"Phone": "+48 2"},
        headers={"If-Unmodified-Since": "yesterday"},
    )
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "INVALID_HEADER_VALUE"
    assert _phone(org) == "+48 1"


def test_get_with_if_modified_since(org: Org) -> None:
    not_modified = org.api.get(
        f"sobjects/Account/{org.account}", headers={"If-Modified-Since": _date(T0)}
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    modified = org.api.get(
        f"sobjects/Account/{org.account}",
        headers={"If-Modified-Since": _date(T0 - timedelta(seconds=1))},
    )
    assert modified.status_code == 200
    assert modified.json()["Phone"] == "+48 1"
    ignored = org.api.get(f"sobjects/Account/{org.account}", headers={"If-Modified-Since": "x"})
    assert ignored.status_code == 200


def test_get_with_if_unmodified_since(org: Org) -> None:
    earlier = _date(T0 - timedelta(seconds=1))
    answer = org.api.get(
        f"sobjects/Account/{org.account}", headers={"If-Unmodified-Since": earlier}
    )
    assert answer.status_code == 412
    held = org.api.get(
        f"sobjects/Account/{org.account}", headers={"If-Unmodified-Since": _date(T0)}
    )
    assert held.status_code == 200


def test_a_zone_named_date_as_salesforce_writes_it(org: Org) -> None:
    """Salesforce's own example writes ``EEE, dd MMM yyyy HH:mm:ss z`` with a zone name."""
    mst = "Mon, 02 Mar 2026 03:00:04 MST"  # 10:00:04 UTC: before the record's 10:00:05
    answer = org.api.patch(
        f"sobjects/Account/{org.account}",
        json={"Phone": "+48 2"},
        headers={"If-Unmodified-Since": mst},
    )
    assert answer.status_code == 412


def test_delete_ignores_conditional_headers(org: Org) -> None:
    answer = org.api.delete(
        f"sobjects/Account/{org.account}",
        headers={"If-Unmodified-Since": _date(T0 - timedelta(days=1))},
    )
    assert answer.status_code == 204


def test_simple_salesforce_sends_the_headers_unchanged(org: Org) -> None:
    sf = Salesforce(
        instance_url=org.crm.base_url,
        session_id=org.crm.issue_token(),
        session=sandbox_session(org.crm),
    )
    held = {"If-Unmodified-Since": _date(T0)}
    assert sf.Account.update(org.account, {"Phone": "+48 sf"}, headers=held) == 204
    org.clock.now = T0 + timedelta(seconds=2)
    org.crm.org.update("Account", org.account, {"Phone": "+48 user"})
    with pytest.raises(SalesforceError) as failed:
        sf.Account.update(org.account, {"Phone": "+48 lost"}, headers=held)
    assert failed.value.status == 412
    assert _phone(org) == "+48 user"
    since = {"If-Modified-Since": _date(T0 + timedelta(seconds=2))}
    with pytest.raises(SalesforceError) as cached:
        sf.Account.get(org.account, headers=since)
    assert cached.value.status == 304
    assert sf.Account.get(org.account, headers={"If-Modified-Since": _date(T0)})["Phone"] == (
        "+48 user"
    )
