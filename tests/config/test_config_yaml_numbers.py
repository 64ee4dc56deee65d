"""Unquoted codes with a leading zero or colons stay the text written, in value maps above all.

YAML 1.1 (PyYAML's default) reads ``010`` as the octal 8, ``01`` as 1 and ``12:30`` as 750.
"""

from __future__ import annotations

import pytest

from tandem.config import Side, parse_flow
from tandem.config.loader import read_yaml
from tandem.mapping import Mapper
from tandem.mapping.mapper import RefResolver

from .flows import BASE

FLOW = """\
version: 1
name: codes
connections: {erp: {type: sql}, crm: {type: salesforce}}
value_maps:
  depts: {pairs: {01: Sales, 010: Warehouse, 08: Ops, 7: Support}}
entities:
  customer:
    model: customer
    erp: {source: customers, key: id, external_id: crm_id}
    crm: {source: Account, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: name, erp: name, crm: Name}
      - {field: x_dept, erp: dept, crm: Dept__c, value_map: depts}
"""


class NoRefs:
    """The flow has no references."""

    def to_canonical(self, entity: str, side: Side, native_key: str) -> str | None:
        return None

    def to_native(self, entity: str, side: Side, canonical: str) -> str | None:
        return None


REFS: RefResolver = NoRefs()


@pytest.mark.parametrize(
    ("erp", "crm"), [("01", "Sales"), ("010", "Warehouse"), ("08", "Ops"), (7, "Support")]
)
def test_a_code_travels_both_ways_as_written(erp: object, crm: str) -> None:
    mapper = Mapper(parse_flow(FLOW))
    from_crm = mapper.to_canonical("customer", "crm", {"Name": "A", "Dept__c": crm}, "1", REFS)
    # before: "Warehouse" was written to the ERP as 8, "Sales" as 1
    assert mapper.to_native("customer", "erp", from_crm, ["x_dept"], "1", REFS) == {"dept": erp}
    from_erp = mapper.to_canonical("customer", "erp", {"name": "A", "dept": erp}, "1", REFS)
    # before: the ERP's "010" was refused as not in the map
    assert mapper.to_native("customer", "crm", from_erp, ["x_dept"], "1", REFS) == {"Dept__c": crm}


def test_numbers_are_still_numbers() -> None:
    data, _ = read_yaml("a: [0, -0, 7, -12, +3, 1_000, 0x1F, 0.5, .5, -1.25, 3.0, 1.5e+3, .inf]")
    assert data == {"a": [0, 0, 7, -12, 3, 1000, 31, 0.5, 0.5, -1.25, 3.0, 1500.0, float("inf")]}
    assert all(type(v) is int for v in data["a"][:7])
    assert all(type(v) is float for v in data["a"][7:])


def test_leading_zeros_and_colons_stay_text() -> None:
    data, _ = read_yaml("a: [01, 010, 08, 00.5, 012.50, 12:30, 1:02:03]")
    assert data == {"a": ["01", "010", "08", "00.5", "012.50", "12:30", "1:02:03"]}


def test_a_setting_with_a_leading_zero_still_validates_as_its_number() -> None:
    spec = parse_flow(BASE.replace("name: test\n", "name: test\ndescribe_cache_seconds: 060\n"))
    assert spec.describe_cache_seconds == 60.0
