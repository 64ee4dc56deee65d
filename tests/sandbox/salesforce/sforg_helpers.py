"""Helpers shared by the sandbox org data-core tests: a settable clock and org factories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tandem.sandbox.salesforce import ApiError, Org, Schema

EXAMPLE_SCHEMA = (
    Path(__file__).parents[3] / "src/tandem/sandbox/salesforce/examples/erp_objects.yaml"
)
V = "59.0"


class FakeClock:
    """A clock the test moves by hand; starts at 2024-05-01 10:00:00 UTC."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move the clock forward and return the new time."""
        self.now += timedelta(**delta)
        return self.now


def make_org(path: Path, *, clock: FakeClock | None = None, example: bool = True) -> Org:
    """An org on ``path`` with the default schema (plus the ERP example objects)."""
    schema = Schema.load([EXAMPLE_SCHEMA] if example else [])
    return Org(path, schema, clock=clock)


def q(org: Org, soql: str, *, all_rows: bool = False) -> list[dict[str, Any]]:
    """Run a query and follow every locator; return all records."""
    page = org.query(soql, include_deleted=all_rows, batch_size=2000, api_version=V)
    records = list(page.records)
    while page.locator:
        page = org.query_more(page.locator, V)
        records.extend(page.records)
    return records


def names(records: list[dict[str, Any]], key: str = "Name") -> list[Any]:
    """The ``key`` (by default ``Name``) of each record."""
    return [r[key] for r in records]


def api_error(org: Org, soql: str) -> ApiError:
    """The error the org answers ``soql`` with (the query must fail)."""
    with pytest.raises(ApiError) as info:
        org.query(soql, include_deleted=False, batch_size=2000, api_version=V)
    return info.value


def standard_pricebook(org: Org) -> str:
    """The id of the standard price book."""
    return str(q(org, "SELECT Id FROM Pricebook2 WHERE IsStandard = true")[0]["Id"])


def soql_org(path: Path) -> Org:
    """An org with a small known data set for the SOQL tests ("today" is 2024-05-16 UTC)."""
    clock = FakeClock(datetime(2024, 5, 15, 12, 0, tzinfo=UTC))
    org = make_org(path, clock=clock)
    acme = org.create(
        "Account",
        {
            "Name": "Acme",
            "Industry": "Banking",
            "BillingCity": "Berlin",
            "NumberOfEmployees": 50,
            "AnnualRevenue": 1000,
            "ERP_Id__c": "A1",
        },
    )
    globex = org.create(
        "Account",
        {
            "Name": "Globex",
            "Industry": "Retail",
            "BillingCity": "Paris",
            "NumberOfEmployees": 10,
            "ParentId": acme,
        },
    )
    org.create("Account", {"Name": "initech_50%", "BillingCity": None, "NumberOfEmployees": 20})
    org.create(
        "Contact",
        {"LastName": "Doe", "FirstName": "Jane", "AccountId": acme, "Email": "jane@acme.example"},
    )
    org.create("Contact", {"LastName": "O'Brien", "AccountId": globex})
    org.create("Contact", {"LastName": "Solo"})
    org.create(
        "Opportunity",
        {
            "Name": "Big",
            "StageName": "Closed Won",
            "CloseDate": "2024-05-10",
            "Amount": 500,
            "AccountId": acme,
        },
    )
    org.create(
        "Opportunity",
        {
            "Name": "Small",
            "StageName": "Prospecting",
            "CloseDate": "2024-05-15",
            "Amount": 50,
            "AccountId": globex,
        },
    )
    gone = org.create("Account", {"Name": "Deleted Co"})
    org.delete("Account", gone)
    clock.advance(days=1)  # "today" is now 2024-05-16
    return org
