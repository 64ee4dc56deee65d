"""Expressions over values either system may hold: a number's size cannot stall a pass."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tandem.config import parse_flow
from tandem.errors import MappingError
from tandem.mapping import Mapper
from tandem.mapping.expressions import Expression, ExpressionError

from .conftest import MemoryRefs


@pytest.mark.parametrize("value", ["1e999999", "1E999999999", Decimal("1e5000"), "-1e1000"])
def test_int_of_a_number_with_a_huge_whole_part_is_refused_at_once(value: object) -> None:
    # before: int('1e999999') built a million-digit int in 23 s; '1e999999999' never ended
    with pytest.raises(ExpressionError, match="more than 1000 digits"):
        Expression("int(x)").evaluate({"x": value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        (" 7.9 ", 7),
        (Decimal("-3.5"), -3),
        (Decimal("9" * 999), int("9" * 999)),
        ("1e3", 1000),
        (None, None),
    ],
)
def test_int_of_ordinary_numbers(value: object, expected: object) -> None:
    assert Expression("int(x)").evaluate({"x": value}) == expected


@pytest.mark.parametrize("value", ["nan", "Infinity"])
def test_int_of_a_non_number_is_an_expression_error(value: str) -> None:
    with pytest.raises(ExpressionError):
        Expression("int(x)").evaluate({"x": value})


FLOW = """\
version: 1
name: huge
connections: {erp: {type: sql}, crm: {type: salesforce}}
entities:
  product:
    model: product
    erp: {source: products, key: id, external_id: crm_id}
    crm: {source: Product2, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: name, erp: name, crm: Name}
      - {field: x_rank, crm_expr: "int(Rank__c)", erp: rank}
"""


def test_a_crm_text_with_a_huge_exponent_is_a_dead_letter_naming_it() -> None:
    mapper = Mapper(parse_flow(FLOW))
    with pytest.raises(MappingError) as caught:
        mapper.to_canonical(
            "product", "crm", {"Name": "P", "Rank__c": "9e9999999"}, "01t1", MemoryRefs()
        )
    assert caught.value.field == "x_rank"
    assert "9e9999999" in str(caught.value)
