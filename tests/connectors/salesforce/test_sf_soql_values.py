"""The SOQL builder and the value conversions (pure functions)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.connectors.base import Cursor, FieldInfo
from tandem.connectors.salesforce.bulk import parse_bulk_error, read_csv
from tandem.connectors.salesforce.soql import (
    Select,
    cursor_condition,
    identifier,
    in_condition,
    literal,
    quote,
    soql_datetime,
)
from tandem.connectors.salesforce.values import (
    csv_text,
    dumps,
    from_csv,
    from_json,
    parse_datetime,
    to_wire,
)


def test_quote_escapes_quotes_backslashes_and_controls() -> None:
    assert quote("O'Brien") == r"'O\'Brien'"
    assert quote("a\\b") == r"'a\\b'"
    assert quote('say "hi"\n') == r"'say \"hi\"\n'"
    assert quote("x' OR Name != '") == r"'x\' OR Name != \''"


@given(st.text())
def test_quoted_literal_never_ends_early(text: str) -> None:
    rendered = quote(text)
    inner = rendered[1:-1]
    # every quote inside is escaped by an odd run of backslashes
    i = 0
    while i < len(inner):
        if inner[i] == "\\":
            i += 2
            continue
        assert inner[i] != "'"
        i += 1


def test_identifiers_are_validated() -> None:
    assert identifier("Account.ERP_Id__c") == "Account.ERP_Id__c"
    for bad in ("Name; DELETE", "1abc", "Name--", "", "a b"):
        with pytest.raises(ValueError):
            identifier(bad)


def test_datetime_literals_are_utc_with_milliseconds() -> None:
    warsaw = timezone(timedelta(hours=2))
    assert soql_datetime(datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=warsaw)) == (
        "2024-05-01T10:00:00.123Z"
    )
    assert literal(datetime(2024, 5, 1, 10, 0)) == "2024-05-01T10:00:00.000Z"
    assert literal(date(2024, 5, 1)) == "2024-05-01"
    assert literal(True) == "true"
    assert literal(None) == "null"
    assert literal(Decimal("10.50")) == "10.50"


def test_cursor_condition_breaks_ties_by_id() -> None:
    t = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert cursor_condition(Cursor(t, "001A")) == (
        "(SystemModstamp > 2024-05-01T10:00:00.000Z OR "
        "(SystemModstamp = 2024-05-01T10:00:00.000Z AND Id > '001A'))"
    )
    assert cursor_condition(Cursor(t)) == "SystemModstamp >= 2024-05-01T10:00:00.000Z"


def test_select_builder() -> None:
    t = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    soql = (
        Select("Account", ["Id", "SystemModstamp", "IsDeleted", "Name", "Id"])
        .where(cursor_condition(Cursor(t, "001A")))
        .order_by("SystemModstamp", "Id")
        .limit(2000)
        .soql()
    )
    assert soql == (
        "SELECT Id, SystemModstamp, IsDeleted, Name FROM Account WHERE "
        "(SystemModstamp > 2024-05-01T10:00:00.000Z OR (SystemModstamp = "
        "2024-05-01T10:00:00.000Z AND Id > '001A')) ORDER BY SystemModstamp, Id LIMIT 2000"
    )
    assert in_condition("Id", ["a", "b'c"]) == r"Id IN ('a', 'b\'c')"


def info(kind: str, **kw: object) -> FieldInfo:
    return FieldInfo(name="F", type=kind, **kw)  # type: ignore[arg-type]


def test_from_json_by_type() -> None:
    assert from_json("2024-05-01T10:00:00.000+0000", info("datetime")) == datetime(
        2024, 5, 1, 10, tzinfo=UTC
    )
    assert from_json("2024-05-01T12:00:00.000+0200", info("datetime")) == datetime(
        2024, 5, 1, 10, tzinfo=UTC
    )
    assert from_json("2024-05-01", info("date")) == date(2024, 5, 1)
    assert from_json(Decimal("12345678901234.57"), info("currency")) == Decimal("12345678901234.57")
    assert from_json(Decimal("0.5"), info("percent")) == 0.5
    assert isinstance(from_json(Decimal("1.5"), info("number")), float)
    assert from_json(Decimal("3"), info("integer")) == 3
    assert from_json(None, info("date")) is None


def test_from_csv_by_type() -> None:
    assert from_csv("", info("string")) is None
    assert from_csv("true", info("boolean")) is True
    assert from_csv("12.30", info("currency")) == Decimal("12.30")
    assert from_csv("2024-05-01T10:00:00.000Z", info("datetime")) == datetime(
        2024, 5, 1, 10, tzinfo=UTC
    )


def test_to_wire_and_dumps_keep_decimals_exact() -> None:
    record = {
        "Amount": Decimal("12345678901234567.89"),
        "When": datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
        "Day": date(2024, 5, 1),
        "Flag": False,
        "Name": 'Zażółć "x"',
        "Nothing": None,
    }
    wire = {k: to_wire(v) for k, v in record.items()}
    assert dumps(wire) == (
        '{"Amount":12345678901234567.89,"When":"2024-05-01T10:00:00.000+0000",'
        '"Day":"2024-05-01","Flag":false,"Name":"Za\\u017c\\u00f3\\u0142\\u0107 \\"x\\"",'
        '"Nothing":null}'
    )
    with pytest.raises(ValueError):
        to_wire(Decimal("NaN"))
    with pytest.raises(ValueError):
        to_wire(object())
    assert csv_text(None) == "#N/A"
    assert csv_text(Decimal("1.50")) == "1.50"
    assert csv_text(True) == "true"


def test_parse_datetime_forms() -> None:
    expected = datetime(2018, 12, 18, 22, 51, 36, tzinfo=UTC)
    for text in ("2018-12-18T22:51:36.000+0000", "2018-12-18T22:51:36Z", "2018-12-18T22:51:36"):
        assert parse_datetime(text) == expected


def test_bulk_csv_and_errors() -> None:
    rows = read_csv('"sf__Id","sf__Created",Name\n"001A","true","A, Inc."\n')
    assert rows == [{"sf__Id": "001A", "sf__Created": "true", "Name": "A, Inc."}]
    error = parse_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --")
    assert error.code == "REQUIRED_FIELD_MISSING"
    assert error.fields == ("Name",)
    assert "Required fields are missing" in error.message
    plain = parse_bulk_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record")
    assert plain.code == "UNABLE_TO_LOCK_ROW"
