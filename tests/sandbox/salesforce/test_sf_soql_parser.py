"""SOQL parsing: tokens, the syntax tree, malformed and meaningless queries, fuzzing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sforg_helpers import V, api_error, q, soql_org

from tandem.sandbox.salesforce import ApiError, Org
from tandem.sandbox.salesforce.soql import ast, parse
from tandem.sandbox.salesforce.soql.lexer import decode_string, tokenize


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    org = soql_org(tmp_path_factory.mktemp("soql") / "org.db")
    yield org
    org.close()


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
