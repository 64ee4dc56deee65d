"""SOQL: the parser (valid and malformed queries), compilation against the schema, results."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sforg_helpers import FakeClock, V, make_org, q

from tandem.sandbox.salesforce import ApiError, Org
from tandem.sandbox.salesforce.soql import ast, parse
from tandem.sandbox.salesforce.soql.lexer import decode_string, tokenize


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    clock = FakeClock(datetime(2024, 5, 15, 12, 0, tzinfo=UTC))
    org = make_org(tmp_path_factory.mktemp("soql") / "org.db", clock=clock)
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
    yield org
    org.close()


def names(records: list[dict[str, Any]], key: str = "Name") -> list[Any]:
    return [r[key] for r in records]


def api_error(org: Org, soql: str) -> ApiError:
    with pytest.raises(ApiError) as info:
        org.query(soql, include_deleted=False, batch_size=2000, api_version=V)
    return info.value


# ---- parser ------------------------------------------------------------------------------------


def test_parse_tree() -> None:
    tree = parse(
        "select Id, Account.Name, COUNT(Id) cnt from Contact where (Name = 'x' or Name like 'y%')"
        " and not Email != null and CreatedDate >= LAST_N_DAYS:7 and Id in (select Id from Contact)"
        " group by Account.Name order by Name desc nulls last, Id limit 10 offset 5"
    )
    assert tree.sobject == "Contact" and tree.limit == 10 and tree.offset == 5
    assert isinstance(tree.select[1], ast.FieldPath) and tree.select[1].parts == ("Account", "Name")
    agg = tree.select[2]
    assert isinstance(agg, ast.Aggregate) and (agg.function, agg.alias) == ("COUNT", "cnt")
    assert isinstance(tree.where, ast.And) and len(tree.where.parts) == 4
    assert isinstance(tree.where.parts[0], ast.Or) and isinstance(tree.where.parts[1], ast.Not)
    date_cmp = tree.where.parts[2]
    assert isinstance(date_cmp, ast.Comparison)
    assert date_cmp.values == (ast.DateLiteral("LAST_N_DAYS", 7, date_cmp.values[0].pos),)  # type: ignore[index]
    assert isinstance(tree.where.parts[3], ast.Comparison)
    assert isinstance(tree.where.parts[3].values, ast.SemiJoin)
    assert tree.order_by[0].descending and tree.order_by[0].nulls_first is False
    assert not tree.order_by[1].descending


def test_tokens() -> None:
    kinds = [
        t.kind for t in tokenize("x>=2024-05-01T10:00:00.000+02:00 AND y<>-1.5 AND d=2024-05-01")
    ]
    assert kinds == [
        "IDENT",
        "OP",
        "DATETIME",
        "IDENT",
        "IDENT",
        "OP",
        "NUMBER",
        "IDENT",
        "IDENT",
        "OP",
        "DATE",
        "EOF",
    ]
    assert decode_string(r"O\'Brien \\ \n \u00e9 100\%") == "O'Brien \\ \n é 100%"


@pytest.mark.parametrize(
    ("soql", "needle"),
    [
        ("SELECT FROM Account", "unexpected token: FROM"),
        ("SELECT Id Account", "unexpected token: Account"),
        ("SELECT Id FROM", "unexpected token: <EOF>"),
        ("SELECT Id FROM Account WHERE", "unexpected token: <EOF>"),
        (
            "SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",
            "unexpected token: OR",
        ),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "unterminated string"),
        ("SELECT Id FROM Account WHERE Name = 'a\\qb'", "Illegal character sequence"),
        ("SELECT Id FROM Account LIMIT x", "unexpected token: x"),
        ("SELECT Id FROM Account LIMIT -1", "unexpected token: -1"),
        ("SELECT Id FROM Account ORDER Name", "unexpected token: Name"),
        ("SELECT Id FROM Account WHERE Name == 'a'", "unexpected token: ="),
        ("SELECT Id, FROM Account", "unexpected token: FROM"),
        ("SELECT Id FROM Account WHERE Name IN 'a'", "unexpected token: 'a'"),
        ("SELECT Id FROM Account WHERE Name = 'a' extra", "unexpected token: extra"),
        ("SELECT Id FROM Account WHERE Name # 'a'", "unexpected token: #"),
        ("SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS", "unexpected token"),
        ("SELECT Id, (SELECT Id, (SELECT Id FROM Contacts) FROM Contacts) FROM Account", "("),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT Id, (SELECT Id FROM Cs) FROM Contact)",
            "(",
        ),
        ("SELECT FIELDS(SOME) FROM Account", "SOME"),
        ("SELECT FIELDS(ALL) FROM Account", "LIMIT of at most 200"),
        ("SELECT COUNT(Id), (SELECT Id FROM Contacts) FROM Account", "aggregate"),
        ("SELECT SUM() FROM Account", "unexpected token"),
        ("DELETE FROM Account", "unexpected token: DELETE"),
    ],
)
def test_malformed(org: Org, soql: str, needle: str) -> None:
    err = api_error(org, soql)
    assert (err.status, err.error_code) == (400, "MALFORMED_QUERY")
    assert needle in err.message and "ERROR at Row:1:Column:" in err.message


def test_error_position() -> None:
    with pytest.raises(ApiError) as info:
        parse("SELECT Id\nFROM Account WHERE\nName = ")
    assert "ERROR at Row:3:Column:8" in info.value.message


@pytest.mark.parametrize(
    ("soql", "code", "needle"),
    [
        ("SELECT Id FROM Nope__c", "INVALID_TYPE", "sObject type 'Nope__c' is not supported"),
        ("SELECT Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'"),
        ("SELECT Id FROM Account WHERE Foo = 1", "INVALID_FIELD", "No such column 'Foo'"),
        ("SELECT Id FROM Account ORDER BY Foo", "INVALID_FIELD", "No such column 'Foo'"),
        ("SELECT Nope.Name FROM Contact", "INVALID_FIELD", "Didn't understand relationship 'Nope'"),
        (
            "SELECT Account.Foo FROM Contact",
            "INVALID_FIELD",
            "No such column 'Foo' on entity 'Account'",
        ),
        (
            "SELECT Id FROM Account WHERE NumberOfEmployees = '5'",
            "INVALID_FIELD",
            "must be of type int and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Name = 5",
            "INVALID_FIELD",
            "must be of type string and should be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE CreatedDate > 2024-05-01",
            "INVALID_FIELD",
            "must be of type dateTime",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate > 2024-05-01T00:00:00Z",
            "INVALID_FIELD",
            "must be of type date",
        ),
        ("SELECT Id FROM Account WHERE IsDeleted = 'true'", "INVALID_FIELD", "type boolean"),
        ("SELECT Id FROM Account WHERE Name = TODAY", "INVALID_FIELD", "Name"),
        (
            "SELECT Id FROM Account WHERE Id = 'nope'",
            "INVALID_QUERY_FILTER_OPERATOR",
            "invalid ID field: nope",
        ),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "2000"),
        ("SELECT Name, COUNT(Id) FROM Account", "MALFORMED_QUERY", "grouped or aggregated: Name"),
        ("SELECT COUNT(), Name FROM Account", "MALFORMED_QUERY", "COUNT()"),
        ("SELECT SUM(Name) FROM Account", "MALFORMED_QUERY", "does not support aggregate SUM"),
        ("SELECT Id FROM Account WHERE Industry INCLUDES ('a')", "INVALID_FIELD", "multipicklist"),
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT Name FROM Contact)",
            "MALFORMED_QUERY",
            "semi join",
        ),
    ],
)
def test_semantic_errors(org: Org, soql: str, code: str, needle: str) -> None:
    err = api_error(org, soql)
    assert (err.status, err.error_code) == (400, code)
    assert needle in err.message


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


# ---- properties -------------------------------------------------------------------------------


def soql_quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_string_literals_round_trip(text: str) -> None:
    tree = parse(f"SELECT Id FROM Account WHERE Name = '{soql_quote(text)}'")
    assert isinstance(tree.where, ast.Comparison)
    literal = tree.where.values[0]  # type: ignore[index]
    assert isinstance(literal, ast.Literal_) and decode_string(literal.raw) == text


@settings(max_examples=25, deadline=None)
@given(st.text(alphabet="ab'\\%_ \n", max_size=12))
def test_equality_finds_exact_value(org: Org, text: str) -> None:
    # Whatever the text, quoting it and querying finds exactly the record that holds it.
    [rid] = [
        r.id
        for r in org.create_many(
            [{"attributes": {"type": "Contact"}, "LastName": "P", "Title": text or None}], False
        )
    ]
    found = q(org, f"SELECT Id FROM Contact WHERE Title = '{soql_quote(text)}' AND LastName = 'P'")
    assert [r["Id"] for r in found] == ([rid] if text else [])
    assert rid is not None
    org.delete_many([rid], False)


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


_PIECES = [
    "SELECT",
    "FROM",
    "WHERE",
    "Id",
    "Name",
    "Account",
    "Account.Name",
    "COUNT()",
    "COUNT(Id)",
    ",",
    "(",
    ")",
    "=",
    "!=",
    "<",
    ">=",
    "LIKE",
    "IN",
    "NOT",
    "AND",
    "OR",
    "null",
    "true",
    "'a'",
    "'\\'",
    "5",
    "-1.5",
    "2024-05-01",
    "2024-05-01T10:00:00Z",
    "TODAY",
    "LAST_N_DAYS:3",
    "ORDER BY",
    "DESC",
    "NULLS LAST",
    "LIMIT",
    "OFFSET",
    "GROUP BY",
    "Contact",
    "FIELDS(ALL)",
    "(SELECT Id FROM Contacts)",
    "'%'",
    "Industry",
    "CreatedDate",
    "#",
    ":",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_any_token_soup_is_answered_with_an_api_error_or_rows(org: Org, pieces: list[str]) -> None:
    soql = " ".join(pieces)
    try:
        page = org.query(soql, include_deleted=False, batch_size=2000, api_version=V)
    except ApiError as exc:
        assert exc.status == 400 and exc.error_code
    else:
        assert page.total_size >= 0


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_any_text_is_answered_with_an_api_error_or_rows(org: Org, text: str) -> None:
    try:
        org.query(
            "SELECT Id FROM Account " + text, include_deleted=False, batch_size=2000, api_version=V
        )
    except ApiError as exc:
        assert exc.status == 400
