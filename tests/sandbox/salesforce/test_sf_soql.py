"""SOQL results against known data: filters, relationships, ordering, aggregates, paging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sforg_helpers import V, api_error, make_org, names, q, soql_org

from tandem.sandbox.salesforce import ApiError, Org


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    org = soql_org(tmp_path_factory.mktemp("soql") / "org.db")
    yield org
    org.close()


# ---- results -----------------------------------------------------------------------------------


def test_select_shape_and_relationships(org: Org) -> None:
    records = q(
        org, "SELECT Name, Account.Name, Account.Parent.Name, Email FROM Contact ORDER BY LastName"
    )
    assert names(records) == ["Jane Doe", "O'Brien", "Solo"]
    jane = records[0]
    assert list(jane) == ["attributes", "Name", "Account", "Email"]
    assert jane["attributes"]["type"] == "Contact"
    assert jane["attributes"]["url"].startswith(f"/services/data/v{V}/sobjects/Contact/003")
    assert jane["Account"]["attributes"]["type"] == "Account"
    assert jane["Account"]["Name"] == "Acme" and jane["Account"]["Parent"] is None
    assert records[1]["Account"]["Parent"]["Name"] == "Acme"
    assert records[2]["Account"] is None
    # Field names are case-insensitive; keys keep the schema's spelling.
    [rec] = q(org, "select id, NAME, account.name from contact where lastname = 'doe'")
    assert list(rec) == ["attributes", "Id", "Name", "Account"]
    # The object's own name may prefix a field.
    assert names(q(org, "SELECT Account.Name FROM Account WHERE Account.Name = 'Acme'")) == ["Acme"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'acme'", ["Acme"]),  # case-insensitive
        ("Name != 'Acme'", ["Globex", "initech_50%"]),
        ("Name <> 'Acme'", ["Globex", "initech_50%"]),
        ("BillingCity != 'Berlin'", ["Globex", "initech_50%"]),  # nulls match !=
        ("BillingCity = null", ["initech_50%"]),
        ("BillingCity != null", ["Acme", "Globex"]),
        ("NumberOfEmployees > 10", ["Acme", "initech_50%"]),
        ("NumberOfEmployees >= 10 AND NumberOfEmployees < 50", ["Globex", "initech_50%"]),
        ("NumberOfEmployees <= 20.5", ["Globex", "initech_50%"]),
        ("Industry IN ('Banking', 'Retail')", ["Acme", "Globex"]),
        ("Industry NOT IN ('Banking')", ["Globex", "initech_50%"]),
        ("Industry IN ('Banking', null)", ["Acme", "initech_50%"]),
        ("Industry NOT IN ('Banking', null)", ["Globex"]),
        ("Name LIKE 'g%'", ["Globex"]),
        ("Name LIKE '_lobe_'", ["Globex"]),
        ("Name LIKE '%\\_50\\%'", ["initech_50%"]),
        ("Name LIKE 'initech%' OR Name = 'Acme'", ["Acme", "initech_50%"]),
        ("NOT Name = 'Acme'", ["Globex", "initech_50%"]),
        ("NOT (Name = 'Acme' OR Name = 'Globex')", ["initech_50%"]),
        ("(Name = 'Acme' OR Name = 'Globex') AND NumberOfEmployees < 20", ["Globex"]),
        ("Parent.Name = 'Acme'", ["Globex"]),
        ("ERP_Id__c = 'a1'", ["Acme"]),
        ("AnnualRevenue = 1000", ["Acme"]),
        ("AnnualRevenue = 1000.0", ["Acme"]),
        ("IsDeleted = false", ["Acme", "Globex", "initech_50%"]),
        ("CreatedDate = 2024-05-15T12:00:00Z", ["Acme", "Globex", "initech_50%"]),
        ("CreatedDate = 2024-05-15T14:00:00+02:00", ["Acme", "Globex", "initech_50%"]),
        ("CreatedDate > 2024-05-15T12:00:00.000Z", []),
        ("CreatedDate = YESTERDAY", ["Acme", "Globex", "initech_50%"]),
        ("CreatedDate = TODAY", []),
        ("CreatedDate = LAST_N_DAYS:1", ["Acme", "Globex", "initech_50%"]),
        ("CreatedDate < TODAY", ["Acme", "Globex", "initech_50%"]),
        ("CreatedDate >= TOMORROW", []),
        ("CreatedDate = THIS_MONTH", ["Acme", "Globex", "initech_50%"]),
        ("CreatedDate = LAST_MONTH", []),
        ("Id IN (SELECT AccountId FROM Contact)", ["Acme", "Globex"]),
        (
            "Id NOT IN (SELECT AccountId FROM Opportunity WHERE Amount > 100)",
            ["Globex", "initech_50%"],
        ),
    ],
)
def test_where(org: Org, where: str, expected: list[str]) -> None:
    assert names(q(org, f"SELECT Name FROM Account WHERE {where} ORDER BY Name")) == expected


def test_dates_and_ids(org: Org) -> None:
    assert names(q(org, "SELECT Name FROM Opportunity WHERE CloseDate > 2024-05-10")) == ["Small"]
    assert names(q(org, "SELECT Name FROM Opportunity WHERE CloseDate = LAST_N_DAYS:3")) == [
        "Small"
    ]
    assert names(q(org, "SELECT Name FROM Opportunity WHERE CloseDate = N_DAYS_AGO:6")) == ["Big"]
    assert names(
        q(org, "SELECT Name FROM Opportunity WHERE CloseDate = THIS_YEAR ORDER BY Name")
    ) == ["Big", "Small"]
    acme = q(org, "SELECT Id FROM Account WHERE Name = 'Acme'")[0]["Id"]
    assert names(q(org, f"SELECT Name FROM Account WHERE Id = '{acme[:15]}'")) == ["Acme"]
    assert names(q(org, f"SELECT Name FROM Contact WHERE AccountId = '{acme}'")) == ["Jane Doe"]
    assert names(q(org, "SELECT Name FROM Contact WHERE LastName = 'O\\'Brien'")) == ["O'Brien"]
    rec = q(
        org, "SELECT CloseDate, Amount, IsWon, Probability FROM Opportunity WHERE Name = 'Big'"
    )[0]
    assert (rec["CloseDate"], rec["Amount"], rec["IsWon"], rec["Probability"]) == (
        "2024-05-10",
        500.0,
        True,
        100.0,
    )


def test_order_limit_offset(org: Org) -> None:
    assert names(q(org, "SELECT Name FROM Account ORDER BY BillingCity")) == [
        "initech_50%",
        "Acme",
        "Globex",
    ]  # nulls first ascending
    assert names(q(org, "SELECT Name FROM Account ORDER BY BillingCity DESC")) == [
        "Globex",
        "Acme",
        "initech_50%",
    ]
    assert names(q(org, "SELECT Name FROM Account ORDER BY BillingCity NULLS LAST")) == [
        "Acme",
        "Globex",
        "initech_50%",
    ]
    assert names(q(org, "SELECT Name FROM Account ORDER BY BillingCity DESC NULLS FIRST")) == [
        "initech_50%",
        "Globex",
        "Acme",
    ]
    assert names(q(org, "SELECT Name FROM Account ORDER BY Name LIMIT 2")) == ["Acme", "Globex"]
    assert names(q(org, "SELECT Name FROM Account ORDER BY Name LIMIT 1 OFFSET 1")) == ["Globex"]
    assert names(q(org, "SELECT Name FROM Account ORDER BY Name OFFSET 2")) == ["initech_50%"]
    assert names(q(org, "SELECT Name FROM Contact ORDER BY Account.Name DESC, LastName")) == [
        "O'Brien",
        "Jane Doe",
        "Solo",
    ]


def test_count_and_aggregates(org: Org) -> None:
    page = org.query(
        "SELECT COUNT() FROM Account", include_deleted=False, batch_size=2000, api_version=V
    )
    assert (page.total_size, page.done, page.records) == (3, True, [])
    page = org.query(
        "SELECT COUNT() FROM Account", include_deleted=True, batch_size=2000, api_version=V
    )
    assert page.total_size == 4
    page = org.query(
        "SELECT count() FROM Account WHERE Industry = 'Banking'",
        include_deleted=False,
        batch_size=2000,
        api_version=V,
    )
    assert page.total_size == 1
    [rec] = q(org, "SELECT COUNT(Id), MAX(NumberOfEmployees) top, SUM(AnnualRevenue) FROM Account")
    assert rec == {
        "attributes": {"type": "AggregateResult"},
        "expr0": 3,
        "top": 50,
        "expr1": 1000.0,
    }
    grouped = q(
        org,
        "SELECT StageName, COUNT(Id) n, SUM(Amount) FROM Opportunity GROUP BY StageName"
        " ORDER BY StageName",
    )
    assert grouped == [
        {
            "attributes": {"type": "AggregateResult"},
            "StageName": "Closed Won",
            "n": 1,
            "expr0": 500.0,
        },
        {
            "attributes": {"type": "AggregateResult"},
            "StageName": "Prospecting",
            "n": 1,
            "expr0": 50.0,
        },
    ]


def test_query_all_and_stages(org: Org) -> None:
    assert "Deleted Co" not in names(q(org, "SELECT Name FROM Account"))
    deleted = q(org, "SELECT Name, IsDeleted FROM Account WHERE IsDeleted = true", all_rows=True)
    assert names(deleted) == ["Deleted Co"]
    stages = q(
        org,
        "SELECT ApiName, IsClosed, IsWon, DefaultProbability, ForecastCategoryName"
        " FROM OpportunityStage WHERE IsActive = true ORDER BY SortOrder",
    )
    assert stages[0]["ApiName"] == "Prospecting" and stages[0]["DefaultProbability"] == 10.0
    won = [s for s in stages if s["IsWon"]]
    assert names(won, "ApiName") == ["Closed Won"] and won[0]["ForecastCategoryName"] == "Closed"


def test_query_rows_for_bulk(org: Org) -> None:
    header, rows = org.query_rows(
        "SELECT Name, Account.Name, Email, CreatedDate FROM Contact ORDER BY LastName",
        include_deleted=False,
    )
    assert header == ["Name", "Account.Name", "Email", "CreatedDate"]
    assert list(rows) == [
        ["Jane Doe", "Acme", "jane@acme.example", "2024-05-15T12:00:00.000+0000"],
        ["O'Brien", "Globex", "", "2024-05-15T12:00:00.000+0000"],
        ["Solo", "", "", "2024-05-15T12:00:00.000+0000"],
    ]
    header, rows = org.query_rows("SELECT IsWon, Amount FROM Opportunity", include_deleted=False)
    assert sorted(map(tuple, rows)) == [("false", "50"), ("true", "500")]
    with pytest.raises(ApiError):
        org.query_rows("SELECT COUNT() FROM Account", include_deleted=False)


# ---- paging ------------------------------------------------------------------------------------


def test_paging_is_stable(tmp_path: Path) -> None:
    org = make_org(tmp_path / "paging.db", example=False)
    records = [{"attributes": {"type": "Account"}, "Name": f"N{i:04d}"} for i in range(200)]
    for _ in range(26):
        assert all(r.success for r in org.create_many(records, all_or_none=False))
    page = org.query(
        "SELECT Id, Name FROM Account ORDER BY Name",
        include_deleted=False,
        batch_size=2000,
        api_version=V,
    )
    assert (page.total_size, page.done, len(page.records)) == (5200, False, 2000)
    assert page.locator is not None and page.locator.startswith("01g")
    assert page.locator.endswith("-2000")
    seen = [r["Id"] for r in page.records]
    org.create("Account", {"Name": "A0000 added while paging"})  # not in the snapshot
    while page.locator:
        page = org.query_more(page.locator, V)
        seen.extend(r["Id"] for r in page.records)
    assert page.done and page.total_size == 5200 and len(seen) == len(set(seen)) == 5200
    small = org.query("SELECT Id FROM Account", include_deleted=False, batch_size=10, api_version=V)
    assert len(small.records) == 200  # the batch size is at least 200
    with pytest.raises(ApiError) as info:
        org.query_more("01gNOPE-2000", V)
    assert (info.value.status, info.value.error_code) == (400, "INVALID_QUERY_LOCATOR")
    assert small.locator is not None
    with pytest.raises(ApiError):
        org.query_more(small.locator.split("-")[0] + "-999999", V)
    org.close()


def test_child_sub_queries(org: Org) -> None:
    records = q(
        org,
        "SELECT Name, (SELECT LastName, Email FROM Contacts ORDER BY LastName),"
        " (SELECT Name, Amount FROM Opportunities WHERE Amount > 100) FROM Account ORDER BY Name",
    )
    acme, globex, initech = records
    assert list(acme) == ["attributes", "Name", "Contacts", "Opportunities"]
    contacts = acme["Contacts"]
    assert (contacts["totalSize"], contacts["done"]) == (1, True)
    assert contacts["records"][0]["LastName"] == "Doe"
    assert contacts["records"][0]["attributes"]["type"] == "Contact"
    assert acme["Opportunities"]["records"][0]["Amount"] == 500.0
    assert globex["Contacts"]["records"][0]["LastName"] == "O'Brien"
    assert globex["Opportunities"] is None  # its only opportunity is filtered out
    assert initech["Contacts"] is None and initech["Opportunities"] is None
    limited = q(
        org, "SELECT Name, (SELECT Id FROM Contacts LIMIT 0) FROM Account WHERE Name = 'Acme'"
    )
    assert limited[0]["Contacts"] is None
    nested = q(
        org,
        "SELECT Name, (SELECT Name, Parent.Name FROM ChildAccounts) FROM Account"
        " WHERE Name = 'Acme'",
    )
    child = nested[0]["ChildAccounts"]["records"][0]
    assert (child["Name"], child["Parent"]["Name"]) == ("Globex", "Acme")
    err = api_error(org, "SELECT Id, (SELECT Id FROM Nopes) FROM Account")
    assert (
        err.error_code == "INVALID_TYPE" and "Didn't understand relationship 'Nopes'" in err.message
    )
    with pytest.raises(ApiError):
        org.query_rows("SELECT Id, (SELECT Id FROM Contacts) FROM Account", include_deleted=False)


def test_fields_function(org: Org) -> None:
    [standard] = q(org, "SELECT FIELDS(STANDARD) FROM Account WHERE Name = 'Acme'")
    assert standard["BillingCity"] == "Berlin" and "ERP_Id__c" not in standard
    [custom] = q(org, "SELECT FIELDS(CUSTOM) FROM Account WHERE Name = 'Acme' LIMIT 1")
    assert custom["ERP_Id__c"] == "A1" and "Name" not in custom
    assert all(key == "attributes" or key.endswith("__c") for key in custom)
    [every] = q(org, "SELECT FIELDS(ALL) FROM Account WHERE Name = 'Acme' LIMIT 200")
    assert set(every) == set(standard) | set(custom)


def test_group_by_having(org: Org) -> None:
    # Find external-id values held by more than one contact: the reconciliation query.
    twins = [org.create("Contact", {"LastName": "Twin"}) for _ in range(2)]
    rows = q(
        org,
        "SELECT LastName, COUNT(Id) n FROM Contact WHERE LastName != null GROUP BY LastName"
        " HAVING COUNT(Id) > 1 ORDER BY COUNT(Id) DESC, LastName",
    )
    assert [(r["LastName"], r["n"]) for r in rows] == [("Twin", 2)]
    rows = q(
        org,
        "SELECT StageName, SUM(Amount) total FROM Opportunity GROUP BY StageName"
        " HAVING SUM(Amount) >= 100 AND StageName LIKE 'Closed%'",
    )
    assert [(r["StageName"], r["total"]) for r in rows] == [("Closed Won", 500.0)]
    for bad, needle in [
        ("SELECT Id FROM Contact WHERE COUNT(Id) > 1", "unexpected token: ("),
        ("SELECT Id FROM Contact ORDER BY COUNT(Id)", "GROUP BY"),
        ("SELECT LastName FROM Contact HAVING COUNT(Id) > 1", "unexpected token: HAVING"),
    ]:
        err = api_error(org, bad)
        assert err.error_code == "MALFORMED_QUERY" and needle in err.message
    err = api_error(org, "SELECT LastName FROM Contact GROUP BY LastName HAVING COUNT(Id) > '1'")
    assert err.error_code == "INVALID_FIELD"
    org.delete_many(twins, all_or_none=True)  # the module's data set stays as it was
