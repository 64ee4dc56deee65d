"""Fractional seconds: a datetime kept to the digits a native datetime field keeps.

An ERP ``DATETIME`` of MariaDB (0 digits unless declared) or a PostgreSQL ``timestamp(0)``
drops a CRM datetime's milliseconds; both systems' values are compared at the digits both
keep, and a value is cut to the target's digits before it is written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tandem.config import parse_flow
from tandem.connectors.base import EntitySchema, FieldInfo
from tandem.connectors.salesforce.describe import field_info
from tandem.mapping import Mapper, fit_scale, scale_warnings, values_equal
from tandem.mapping.scale import field_scales, fit_fraction, native_fraction
from tandem.pipeline.drift import compare

from .conftest import MemoryRefs

FLOW = """\
version: 1
name: dated
connections:
  erp: {type: sql}
  crm: {type: salesforce}
entities:
  customer:
    model: customer
    erp: {source: customers, key: id, external_id: crm_id}
    crm: {source: Account, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: name, erp: name, crm: Name}
      - {field: x_seen, erp: seen_at, crm: Seen__c}
      - {field: x_price, erp: price, crm: Price__c}
"""
MILLIS = datetime(2026, 3, 1, 10, 0, 0, 750123, tzinfo=UTC)


def erp_customers(digits: int | None) -> EntitySchema:
    fields = {
        "id": FieldInfo("id", "id", nillable=False, createable=False, updateable=False),
        "name": FieldInfo("name", "string", length=80),
        "seen_at": FieldInfo("seen_at", "datetime", scale=digits),
        "price": FieldInfo("price", "number", scale=2),
    }
    return EntitySchema("customers", fields)


def crm_accounts() -> EntitySchema:
    fields = {
        "Id": FieldInfo("Id", "id", nillable=False, createable=False, updateable=False),
        "Name": FieldInfo("Name", "string", length=80),
        "Seen__c": FieldInfo("Seen__c", "datetime"),  # Salesforce describes no digits
        "Price__c": FieldInfo("Price__c", "currency", scale=2),
    }
    return EntitySchema("Account", fields)


def seen(mapper: Mapper, side: str, native: dict[str, Any], refs: MemoryRefs) -> Any:
    canonical = mapper.to_canonical("customer", side, native, "c1", refs)  # type: ignore[arg-type]
    return canonical["x_seen"]


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        (0, datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)),
        (1, datetime(2026, 3, 1, 10, 0, 0, 700000, tzinfo=UTC)),
        (3, datetime(2026, 3, 1, 10, 0, 0, 750000, tzinfo=UTC)),
        (5, datetime(2026, 3, 1, 10, 0, 0, 750120, tzinfo=UTC)),
        (6, MILLIS),
    ],
)
def test_a_datetime_is_cut_to_the_digits(digits: int, expected: datetime) -> None:
    assert fit_fraction(MILLIS, digits) == expected
    assert fit_scale(MILLIS, digits) == expected


def test_cutting_never_moves_to_the_next_second_and_keeps_the_zone() -> None:
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert fit_fraction(last, 0) == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    warsaw = timezone(timedelta(hours=1))
    local = datetime(2026, 3, 1, 11, 0, 0, 999000, tzinfo=warsaw)
    assert fit_fraction(local, 0).tzinfo is warsaw
    whole = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
    assert fit_fraction(whole, 0) is whole  # nothing to cut: the value itself
    day = date(2026, 3, 1)
    assert fit_scale(day, 0) is day  # a date has no seconds


def test_only_a_datetime_fields_digits_count() -> None:
    assert native_fraction(FieldInfo("seen_at", "datetime", scale=0)) == 0
    assert native_fraction(FieldInfo("seen_at", "datetime", scale=3)) == 3
    assert native_fraction(FieldInfo("seen_at", "datetime", scale=6)) is None  # all of them
    assert native_fraction(FieldInfo("seen_at", "datetime")) is None  # not described
    assert native_fraction(FieldInfo("price", "number", scale=2)) is None
    assert native_fraction(None) is None
    spec = parse_flow(FLOW).entities["customer"]
    assert field_scales(spec, "erp", erp_customers(0)) == {"x_seen": 0, "x_price": 2}
    assert field_scales(spec, "crm", crm_accounts()) == {"x_price": 2}


def test_without_digits_a_datetime_is_mapped_as_it_is(refs: MemoryRefs) -> None:
    mapper = Mapper(parse_flow(FLOW))
    mapper.use_schema("customer", "erp", erp_customers(None))  # SQLite: text, all of them
    mapper.use_schema("customer", "crm", crm_accounts())
    assert seen(mapper, "crm", {"Name": "Acme", "Seen__c": MILLIS}, refs) == MILLIS
    native = mapper.to_native("customer", "erp", {"x_seen": MILLIS}, ["x_seen"], "c1", refs)
    assert native["seen_at"] == MILLIS


def test_both_sides_read_at_the_erps_digits_so_they_compare_equal(refs: MemoryRefs) -> None:
    mapper = Mapper(parse_flow(FLOW))
    mapper.use_schema("customer", "erp", erp_customers(0))
    mapper.use_schema("customer", "crm", crm_accounts())
    whole = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
    crm = seen(mapper, "crm", {"Name": "Acme", "Seen__c": MILLIS}, refs)
    assert crm == whole  # the CRM's milliseconds are no part of the agreed value
    # what is written to the ERP is what it keeps, whichever way the database would round
    native = mapper.to_native("customer", "erp", {"x_seen": MILLIS}, ["x_seen"], "c1", refs)
    assert native["seen_at"] == whole
    write = mapper.native_writer("customer", "erp")
    assert write({"x_seen": MILLIS}, ["x_seen"], "c1", refs)["seen_at"] == whole
    # the ERP's read back is the same value: no change to send to the CRM
    erp = seen(mapper, "erp", {"name": "Acme", "seen_at": whole}, refs)
    assert values_equal(erp, crm)
    # the CRM is written what it can keep, its own milliseconds included
    sent = mapper.to_native("customer", "crm", {"x_seen": MILLIS}, ["x_seen"], "c1", refs)
    assert sent["Seen__c"] == MILLIS
    # a change of a whole second is still one
    later = seen(mapper, "crm", {"Name": "Acme", "Seen__c": MILLIS + timedelta(seconds=1)}, refs)
    assert not values_equal(later, erp)


def test_an_agreed_value_saved_with_milliseconds_is_fitted(refs: MemoryRefs) -> None:
    mapper = Mapper(parse_flow(FLOW))
    mapper.use_schema("customer", "erp", erp_customers(0))
    mapper.use_schema("customer", "crm", crm_accounts())
    assert mapper.scaled("customer")
    agreed = {"name": "Acme", "x_seen": MILLIS, "x_price": Decimal("1.50")}
    fitted = mapper.fit_scales("customer", agreed)
    assert fitted["x_seen"] == datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
    assert fitted["x_price"] is agreed["x_price"]


def test_datetime_digits_are_no_decimal_places_warning() -> None:
    spec = parse_flow(FLOW).entities["customer"]
    crm = crm_accounts()
    crm_fields = {**crm.fields, "Seen__c": FieldInfo("Seen__c", "datetime", scale=3)}
    warnings = scale_warnings(spec, erp_customers(0), EntitySchema("Account", crm_fields))
    assert warnings == []


def test_a_salesforce_datetime_keeps_milliseconds() -> None:
    # Its describe gives no digits: milliseconds are what Salesforce keeps, so an ERP's
    # microseconds are compared at three digits instead of read back as a change.
    info = field_info({"name": "Last_Contact__c", "type": "datetime", "scale": 0})
    assert info.scale == 3 and native_fraction(info) == 3
    assert field_info({"name": "Amount__c", "type": "currency", "scale": 2}).scale == 2


def test_a_datetime_given_digits_by_an_upgrade_is_no_drift() -> None:
    before = {"At": {"type": "datetime", "length": None, "scale": None, "nillable": True}}
    after = {"At": {"type": "datetime", "length": None, "scale": 0, "nillable": True}}
    assert compare(before, after, {"At"}) == []
    assert compare(after, {"At": {**after["At"], "scale": 3}}, {"At"}) == [
        "field At (mapped): scale 0 -> 3"
    ]
