"""Wire forms at the edges: early years, Bulk error cells naming no field, CSV null cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tandem.connectors.salesforce.bulk_csv import csv_chunks, parse_bulk_error, upload_parts
from tandem.connectors.salesforce.records import csv_table
from tandem.connectors.salesforce.soql import soql_datetime
from tandem.connectors.salesforce.values import (
    csv_cell,
    csv_text,
    holds_null_cell,
    parse_datetime,
    wire_datetime,
)


@pytest.mark.parametrize(
    ("moment", "wire"),
    [
        (datetime(999, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "0999-01-02T03:04:05.006+0000"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000+0000"),
        (datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC), "1969-12-31T23:59:59.000+0000"),
        (
            datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
            None,  # past 9999 in UTC: no wire form, refused as a bad value (not a crash)
        ),
    ],
)
def test_a_datetime_is_written_with_a_four_digit_year(moment: datetime, wire: str | None) -> None:
    if wire is None:
        with pytest.raises(ValueError, match="out of range"):
            wire_datetime(moment)
        return
    assert wire_datetime(moment) == wire
    assert parse_datetime(wire) == moment
    assert soql_datetime(moment) == wire.replace("+0000", "Z")


def test_a_bulk_error_naming_no_field_keeps_its_message_clean() -> None:
    error = parse_bulk_error("DUPLICATE_VALUE:Duplicate external id specified: DUP: --")
    assert (error.code, error.message, error.fields) == (
        "DUPLICATE_VALUE",
        "Duplicate external id specified: DUP",
        (),
    )
    named = parse_bulk_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --")
    assert (named.message, named.fields) == ("Required fields are missing: [Name]", ("Name",))


def test_an_empty_text_is_the_null_cell_in_bulk_csv() -> None:
    assert csv_cell("") == csv_text("") == csv_cell(None) == "#N/A"
    assert csv_text([]) == "#N/A"  # a multi-select picklist with nothing chosen
    columns, rows = csv_table(
        [{"ERP_Id__c": "A", "Name": "n", "Phone": ""}, {"ERP_Id__c": "B"}], "ERP_Id__c"
    )
    assert columns == ["ERP_Id__c", "Name", "Phone"]
    assert rows == [["A", "n", "#N/A"], ["B", "", ""]]  # absent: left as it is


def test_upload_parts_keep_each_job_under_the_limit_and_every_row_once() -> None:
    columns = ["ERP_Id__c", "Description"]
    rows = [[f"K{i}", '"quoted", 😀 ' * (i % 7) + "\n"] for i in range(500)]
    assert upload_parts(columns, rows) == [range(500)]  # far below 100 MB: one job
    limit = 2_000
    parts = upload_parts(columns, rows, limit)
    assert len(parts) > 1
    assert [i for part in parts for i in part] == list(range(500))
    for part in parts:
        size = sum(map(len, csv_chunks(columns, rows[part.start : part.stop])))
        assert size <= limit


@pytest.mark.parametrize(
    ("record", "held"),
    [
        ({"Name": "#N/A", "Phone": "1"}, True),
        ({"Name": "Acme", "Parent": {"ERP_Id__c": "#N/A"}}, True),  # a lookup's match value
        ({"Name": "Acme", "Parent": {"ERP_Id__c": "7"}, "NumberOfEmployees": 5}, False),
        ({"Name": "N/A", "Description": "#N/A inside a longer text"}, False),
    ],
)
def test_a_record_holding_the_null_cell_text_is_told_apart(
    record: dict[str, object], held: bool
) -> None:
    assert holds_null_cell(record) is held
