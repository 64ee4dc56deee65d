"""Reconcile compares numbers by value, as the planner does: a system that gives a double as a
float (Salesforce's double and percent fields) agrees with one that gives a decimal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.codec import stable_hash
from tandem.mapping.compare import comparable, values_equal
from tandem.pipeline.reconcile import reconcile

FLOW = MEMORY_FLOW.replace(
    "{{field: phone, erp: phone, crm: Phone, owner: crm}}",
    "{{field: x_ratio, erp: ratio, crm: Ratio__c}}",
)
"""The memory flow with a ratio (a double field in Salesforce) in place of the phone."""


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (Decimal("12.35"), 12.35, True),
        (Decimal("7"), 7.0, True),
        (7, Decimal("7.00"), True),
        (0.1, Decimal("0.1"), True),
        (Decimal("12.35"), 12.36, False),
        (True, 1, False),
        ("7", 7, False),
        ({"amount": Decimal("2.50"), "currency": "PLN"}, {"amount": 2.5, "currency": "PLN"}, True),
        ([1, 2.0], [Decimal(1), Decimal(2)], True),
        (None, 0, False),
    ],
)
def test_comparable_values_hash_alike_exactly_when_they_are_equal(
    a: object, b: object, equal: bool
) -> None:
    assert values_equal(a, b) is equal
    assert (stable_hash(comparable(a)) == stable_hash(comparable(b))) is equal


async def test_a_double_read_as_a_float_is_no_drift(tmp_path: Path) -> None:
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm", key_prefix="001")
    engine = memory_engine(tmp_path, FLOW, erp, crm)
    erp.put("customers", "1", {"name": "Acme", "ratio": Decimal("0.1235")})
    erp.put("customers", "2", {"name": "Bolt", "ratio": Decimal("7.0")})
    await engine.prepare()
    await engine.sync()
    for record in crm.records["Account"].values():  # as a double field reads back
        record["Ratio__c"] = float(record["Ratio__c"])
    found = await reconcile(engine)
    assert found.differences == 0 and found.entities["customer"].in_sync == 2
    (key,) = [k for k, v in crm.records["Account"].items() if v["Name"] == "Acme"]
    crm.records["Account"][key]["Ratio__c"] = 0.1236  # a real difference is still one
    drifted = await reconcile(engine)
    assert drifted.entities["customer"].drift == {"differs": 1}
    (drift,) = drifted.drifts
    assert drift.fields == {"x_ratio": (Decimal("0.1235"), Decimal("0.1236"))}
