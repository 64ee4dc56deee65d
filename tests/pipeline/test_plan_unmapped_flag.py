"""The planner and a delete-policy flag field the flow does not map.

The customer of the demo is archived in the ERP (``active`` set to false) when its Account is
deleted, and ``active`` is no canonical field. The survivor must stay deleted in the other
system while it holds the flag, edited or not, and come back once the flag is cleared: the
same as a mapped flag (``test_plan.py``), told by the native flag field read with the record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tandem.config import Side, parse_flow
from tandem.mapping import Mapper, ValuesWithFlag
from tandem.pipeline.context import NO_REFS, build_rules, flag_values
from tandem.pipeline.plan import UNREAD, RecordPlan, SourceRecord, flag_holds, plan_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)

FLOW = parse_flow(
    """
version: 1
name: unmapped
connections:
  erp: {type: sql, url: "sqlite://"}
  crm: {type: sql, url: "sqlite://"}
entities:
  customer:
    model: customer
    direction: both
    owner: erp
    delete: {policy: archive, erp_field: active, value: false}
    erp: {source: customers, key: id, external_id: crm_id}
    crm: {source: Account, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: name, erp: name, crm: Name}
      - {field: phone, erp: phone, crm: Phone, owner: both}
  product:
    model: product
    direction: both
    owner: erp
    delete: {policy: flag, erp_field: active, crm_field: IsActive, value: false}
    erp: {source: products, key: id, external_id: crm_id}
    crm: {source: Product2, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: code, erp: code, crm: ProductCode}
      - {field: name, erp: name, crm: Name}
""",
    base_dir=Path("."),
)
MAPPER = Mapper(FLOW)
CUSTOMER = {"name": "Novamet", "phone": "+48 1"}
PRODUCT = {"code": "P-1", "name": "Spare"}

# how each database hands an ERP flag set to false back: a boolean, a number, text
FALSE_FLAGS = [False, 0, "0"]
TRUE_FLAGS = [True, 1, "1"]


def read(entity: str, side: Side, native: dict[str, Any]) -> SourceRecord:
    """A changed record as the pipeline reads it: mapped, with its flag field if present."""
    values = MAPPER.to_canonical(FLOW.entity(entity), side, native, "42", NO_REFS)
    return SourceRecord("42", values, T0)


def plan(
    entity: str,
    side: Side,
    record: SourceRecord,
    base: dict[str, Any],
    *,
    base_deleted: bool = True,
) -> RecordPlan:
    return plan_record(
        build_rules(FLOW.entity(entity), MAPPER),
        side,
        record,
        base=base,
        base_deleted=base_deleted,
        partner="P1",
        current=None,
    )


def erp_customer(active: Any, **values: Any) -> SourceRecord:
    native = {"name": CUSTOMER["name"], "phone": CUSTOMER["phone"], "active": active}
    return read("customer", "erp", {**native, **values})


def crm_product(active: Any, **values: Any) -> SourceRecord:
    native = {"ProductCode": PRODUCT["code"], "Name": PRODUCT["name"], "IsActive": active}
    return read("product", "crm", {**native, **values})


def test_the_crm_delete_flags_the_erp_and_the_flag_read_back_is_no_change() -> None:
    deleted = plan_record(
        build_rules(FLOW.entity("customer"), MAPPER),
        "crm",
        SourceRecord("P1", {}, T0, deleted=True),
        base=dict(CUSTOMER),
        base_deleted=False,
        partner="42",
        current=None,
    )
    assert deleted.target is not None
    assert (deleted.target.side, deleted.target.action) == ("erp", "flag")
    # the flag is not mapped: it is no agreed value
    assert deleted.deleted and deleted.values == CUSTOMER
    for flag in FALSE_FLAGS:
        echo = plan("customer", "erp", erp_customer(flag), deleted.values)
        assert echo.noop and echo.target is None and not echo.deleted


@pytest.mark.parametrize("flag", FALSE_FLAGS)
def test_an_edit_of_the_flagged_survivor_changes_nothing_in_the_other_system(flag: Any) -> None:
    edited = plan("customer", "erp", erp_customer(flag, phone="+48 2"), dict(CUSTOMER))
    assert edited.target is None and edited.revert is None and edited.noop
    # kept deleted, with the edit agreed: a later re-read of it is no change either
    assert edited.deleted and edited.values == {**CUSTOMER, "phone": "+48 2"}
    assert type(edited.values) is dict
    again = plan("customer", "erp", erp_customer(flag, phone="+48 2"), edited.values)
    assert again.noop and again.target is None


@pytest.mark.parametrize("flag", TRUE_FLAGS)
def test_clearing_the_flag_alone_brings_the_record_back(flag: Any) -> None:
    restored = plan("customer", "erp", erp_customer(flag), dict(CUSTOMER))
    assert restored.target is not None
    assert (restored.target.side, restored.target.action) == ("crm", "create")
    assert restored.target.values == CUSTOMER  # the flag is not a value to write
    assert not restored.deleted and restored.values == CUSTOMER
    assert type(restored.target.values) is dict


def test_clearing_the_flag_with_an_edit_brings_the_edited_record_back() -> None:
    restored = plan("customer", "erp", erp_customer(1, phone="+48 3"), dict(CUSTOMER))
    assert restored.target is not None and restored.target.action == "create"
    assert restored.target.values == {**CUSTOMER, "phone": "+48 3"}


def test_a_survivor_read_without_its_flag_field_stays_deleted() -> None:
    unread = read("customer", "erp", {"name": CUSTOMER["name"], "phone": "+48 4"})
    assert unread.flag is UNREAD
    kept = plan("customer", "erp", unread, dict(CUSTOMER))
    assert kept.target is None and kept.deleted


def test_a_record_never_deleted_is_planned_as_before_whatever_its_flag() -> None:
    edited = plan("customer", "erp", erp_customer(0, phone="+48 5"), CUSTOMER, base_deleted=False)
    assert edited.target is not None
    assert (edited.target.action, edited.target.values) == ("update", {"phone": "+48 5"})
    assert not edited.deleted and edited.values == {**CUSTOMER, "phone": "+48 5"}


def test_a_crm_flag_keeps_the_erp_delete_until_it_is_cleared() -> None:
    """The other way: the ERP deleted the product, the flag policy set IsActive in the CRM."""
    deleted = plan_record(
        build_rules(FLOW.entity("product"), MAPPER),
        "erp",
        SourceRecord("42", {}, T0, deleted=True),
        base=dict(PRODUCT),
        base_deleted=False,
        partner="P1",
        current=None,
    )
    assert deleted.target is not None
    assert (deleted.target.side, deleted.target.action) == ("crm", "flag")
    echo = plan("product", "crm", crm_product(False), deleted.values)
    assert echo.noop and echo.target is None
    renamed = plan("product", "crm", crm_product(False, Name="Spare, renamed"), deleted.values)
    assert renamed.target is None and renamed.deleted
    restored = plan("product", "crm", crm_product(True, Name="Spare, renamed"), renamed.values)
    assert restored.target is not None
    assert (restored.target.side, restored.target.action) == ("erp", "create")
    assert restored.target.values == {**PRODUCT, "name": "Spare, renamed"}


def test_a_survivor_on_a_side_the_policy_does_not_flag_comes_back_when_edited() -> None:
    """archive deletes in the CRM: an Account seen again (restored from the recycle bin)
    has no flag to keep it deleted, and an edit of it brings the ERP record back."""
    account = read("customer", "crm", {"Name": CUSTOMER["name"], "Phone": "+48 6"})
    assert type(account.values) is dict and account.flag is UNREAD
    again = plan("customer", "crm", account, dict(CUSTOMER))
    assert again.target is not None and again.target.action == "create"
    same = plan("customer", "crm", read("customer", "crm", {"Name": "Novamet"}), CUSTOMER)
    assert same.noop and same.target is None


def test_the_flag_field_is_read_with_the_record_where_the_policy_sets_it() -> None:
    customer, product = FLOW.entity("customer"), FLOW.entity("product")
    assert flag_values(customer) == {"erp": False}
    assert flag_values(product) == {"erp": False, "crm": False}
    values = MAPPER.to_canonical(customer, "erp", {"name": "A", "active": 0}, "1", NO_REFS)
    assert isinstance(values, ValuesWithFlag) and values.flag == 0
    assert values == {"name": "A"}  # the flag is no canonical value
    assert SourceRecord("1", values, T0).flag == 0
    assert SourceRecord("1", values, T0, flag=True).flag is True  # given, it wins
    plain = MAPPER.to_canonical(customer, "crm", {"Name": "A", "IsActive": False}, "1", NO_REFS)
    assert type(plain) is dict  # archive sets no flag in the CRM


@pytest.mark.parametrize(
    ("value", "mark", "holds"),
    [
        (False, False, True),
        (0, False, True),
        ("0", False, True),
        ("N", False, True),
        ("false", False, True),
        (1, False, False),
        (True, False, False),
        (None, False, False),
        ("maybe", False, False),
        (1, True, True),
        ("1", 1, True),
        (1.0, "1", True),
        ("X", "X", True),
        ("X", "Y", False),
        (None, None, True),
    ],
)
def test_a_native_flag_value_holds_the_policy_value_as_databases_store_it(
    value: Any, mark: Any, holds: bool
) -> None:
    assert flag_holds(value, mark) is holds
