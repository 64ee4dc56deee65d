"""Records and Bulk CSV cells made once per field give what the general checks give."""

from __future__ import annotations

from datetime import UTC, date, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tandem.connectors.base import EntityBinding, EntitySchema, FieldInfo, WriteOp
from tandem.connectors.salesforce.records import (
    RecordBuilder,
    build_record,
    check_value,
    csv_table,
    field_writer,
    flatten,
)
from tandem.connectors.salesforce.values import csv_cell, csv_text, to_wire
from tandem.errors import RecordRejected

KINDS = [
    "id",
    "string",
    "text",
    "email",
    "phone",
    "url",
    "picklist",
    "multipicklist",
    "reference",
    "boolean",
    "integer",
    "number",
    "currency",
    "percent",
    "date",
    "datetime",
    "other",
]

infos = st.builds(
    FieldInfo,
    name=st.just("F"),
    type=st.sampled_from(KINDS),
    nillable=st.booleans(),
    length=st.one_of(st.none(), st.integers(1, 6)),
    picklist=st.one_of(st.none(), st.just(("a", "b", "abc"))),
    restricted_picklist=st.booleans(),
)

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True, places=2),
    st.text(max_size=8),
    st.sampled_from(["a", "b", "abc", "a;b", "a;x", ""]),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))])),
    st.datetimes(),
    st.lists(st.sampled_from(["a", "b"]), max_size=2),
    st.just(object()),
)


def general(info: FieldInfo, value: Any) -> tuple[str, Any]:
    """What check_value then to_wire say: ("ok", wire) or ("bad", message)."""
    problem = check_value(info, value)
    if problem is not None:
        return "bad", problem
    try:
        return "ok", to_wire(value)
    except ValueError as exc:
        return "bad", str(exc)


@given(info=infos, value=values)
def test_a_field_writer_agrees_with_the_general_checks(info: FieldInfo, value: Any) -> None:
    try:
        got: tuple[str, Any] = ("ok", field_writer(info)(value))
    except ValueError as exc:
        got = ("bad", str(exc))
    assert got == general(info, value)


@given(
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.decimals(allow_nan=False, allow_infinity=False),
        st.text(),
        st.dates(),
        st.datetimes(timezones=st.just(UTC)),
        st.lists(st.text(max_size=3), max_size=3),
    )
)
def test_a_csv_cell_of_the_wire_form_is_the_csv_text(value: Any) -> None:
    assert csv_cell(to_wire(value)) == csv_text(value)


SCHEMA = EntitySchema(
    "Contact",
    {
        "Name": FieldInfo("Name", "string", nillable=False, length=10),
        "Level__c": FieldInfo(
            "Level__c", "picklist", picklist=("Hi", "Lo"), restricted_picklist=True
        ),
        "Amount__c": FieldInfo("Amount__c", "currency"),
        "Born__c": FieldInfo("Born__c", "date"),
        "Active__c": FieldInfo("Active__c", "boolean"),
        "ERP_Id__c": FieldInfo("ERP_Id__c", "string", external_id=True),
    },
)
BINDING = EntityBinding("person", "Contact", "Id", tuple(SCHEMA.fields), "ERP_Id__c")


def test_the_builder_names_the_bad_field_and_keeps_the_record_shape() -> None:
    builder = RecordBuilder(BINDING, SCHEMA)
    op = WriteOp(
        "upsert",
        "p1",
        {
            "Name": "Ann",
            "Amount__c": Decimal("1.50"),
            "Born__c": date(1990, 1, 2),
            "Account.ERP_Id__c": "A-1",
            "ERP_Id__c": "ignored: the match is the key",
        },
        match="P-1",
    )
    record = builder.build(op, "upsert Contact")
    assert record == build_record(op, BINDING, SCHEMA, "upsert Contact")
    assert record == {
        "ERP_Id__c": "P-1",
        "Name": "Ann",
        "Amount__c": Decimal("1.50"),
        "Born__c": "1990-01-02",
        "Account": {"ERP_Id__c": "A-1"},
    }
    assert builder.relations == {"Account"}
    bad = WriteOp("upsert", "p2", {"Name": "Bo", "Level__c": "Mid"}, match="P-2")
    with pytest.raises(RecordRejected) as info:
        builder.build(bad, "upsert Contact")
    assert info.value.field == "Level__c" and info.value.value == "Mid"
    assert "restricted picklist" in str(info.value)
    with pytest.raises(RecordRejected, match="MISSING_KEY"):
        builder.build(WriteOp("update", "p3", {"Name": "C"}), "update Contact")
    assert builder.build(WriteOp("delete", "p4", key="003X"), "delete Contact") == {"Id": "003X"}


def test_one_builder_skips_per_action_what_each_action_skips() -> None:
    builder = RecordBuilder(BINDING, SCHEMA)
    values = {"Id": "003Y", "ERP_Id__c": "P-9", "Name": "Di", "Account.ERP_Id__c": "A-2"}
    upsert = WriteOp("upsert", "p1", values, match="P-1")
    update = WriteOp("update", "p1", values, key="003X")
    for _ in range(2):  # the second round reuses what the first one made
        assert builder.build(upsert, "upsert Contact") == {
            "ERP_Id__c": "P-1",
            "Name": "Di",
            "Account": {"ERP_Id__c": "A-2"},
        }
        assert builder.build(update, "update Contact") == {
            "Id": "003X",
            "ERP_Id__c": "P-9",
            "Name": "Di",
            "Account": {"ERP_Id__c": "A-2"},
        }
    assert builder.relations == {"Account"}


def test_a_csv_table_leaves_absent_columns_empty_and_nulls_as_na() -> None:
    records = [
        {"ERP_Id__c": "P-1", "Name": "Ann, Jr.", "Amount__c": Decimal("1E+3")},
        flatten({"ERP_Id__c": "P-2", "Active__c": True, "Account": {"ERP_Id__c": "A-1"}}),
        {"Name": None, "ERP_Id__c": "P-3", "Born__c": "1990-01-02", "Level__c": 7},
    ]
    columns, rows = csv_table(records, "ERP_Id__c")
    assert columns == [
        "ERP_Id__c",
        "Name",
        "Amount__c",
        "Active__c",
        "Account.ERP_Id__c",
        "Born__c",
        "Level__c",
    ]
    assert rows == [
        ["P-1", "Ann, Jr.", "1000", "", "", "", ""],
        ["P-2", "", "", "true", "A-1", "", ""],
        ["P-3", "#N/A", "", "", "", "1990-01-02", "7"],
    ]
