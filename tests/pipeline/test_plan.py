"""The planner: ownership, echo suppression, conflicts and deletes, as pure decisions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tandem.config import Side, parse_flow
from tandem.mapping import Mapper
from tandem.pipeline.context import flag_marks
from tandem.pipeline.plan import RecordPlan, Rules, SourceRecord, TargetRecord, plan_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OWNERS = {"name": "both", "tax_id": "erp", "phone": "crm"}


def rules(conflict: str = "owner_wins", delete: str = "delete", default: str = "crm") -> Rules:
    return Rules(
        owner_of=lambda f: OWNERS.get(f, "both"),  # type: ignore[arg-type,return-value]
        default_owner=default,  # type: ignore[arg-type]
        conflict=conflict,  # type: ignore[arg-type]
        delete=delete,  # type: ignore[arg-type]
    )


def rec(values: dict[str, Any], minutes: int = 0, deleted: bool = False) -> SourceRecord:
    return SourceRecord("42", values, T0 + timedelta(minutes=minutes), deleted)


def plan_of(
    policy: Rules,
    source: Side,
    record: SourceRecord,
    base: Mapping[str, Any] | None,
    *,
    base_deleted: bool = False,
    partner: str | None = "001",
    current: TargetRecord | None = None,
    held: frozenset[str] = frozenset(),
) -> RecordPlan:
    """The plan of ``record`` read from ``source``: by default a record linked to ``"001"``,
    not deleted when last agreed as ``base``, its partner not read."""
    return plan_record(
        policy,
        source,
        record,
        base=base,
        base_deleted=base_deleted,
        partner=partner,
        current=current,
        held=held,
    )


def test_new_record_is_created_with_every_value() -> None:
    plan = plan_of(rules(), "erp", rec({"name": "A", "tax_id": "1"}), None, partner=None)
    assert plan.target is not None
    assert (plan.target.side, plan.target.action) == ("crm", "create")
    assert plan.target.values == {"name": "A", "tax_id": "1"}
    assert plan.values == {"name": "A", "tax_id": "1"}


def test_values_equal_to_the_agreed_state_are_a_noop() -> None:
    base = {"name": "A", "tax_id": "1"}
    plan = plan_of(rules(), "crm", rec(dict(base)), base)
    assert plan.noop
    assert plan.values == base


def test_owned_change_is_written_and_only_the_changed_field() -> None:
    base = {"name": "A", "tax_id": "1"}
    plan = plan_of(rules(), "erp", rec({"name": "A", "tax_id": "2"}), base)
    assert plan.target is not None
    assert plan.target.action == "update"
    assert plan.target.key == "001"
    assert plan.target.values == {"tax_id": "2"}
    assert plan.revert is None
    assert plan.values == {"name": "A", "tax_id": "2"}


def test_change_to_a_field_the_other_side_owns_is_reverted() -> None:
    base = {"phone": "111", "tax_id": "1"}
    plan = plan_of(rules(), "erp", rec({"phone": "999", "tax_id": "1"}), base)
    assert plan.target is None
    assert plan.revert is not None
    assert (plan.revert.side, plan.revert.key, plan.revert.values) == (
        "erp",
        "42",
        {"phone": "111"},
    )
    assert plan.values["phone"] == "111"


def test_both_changed_same_field_owner_wins() -> None:
    base = {"name": "A"}
    current = TargetRecord("001", {"name": "C"}, T0 + timedelta(minutes=5))
    plan = plan_of(
        rules("owner_wins", default="crm"), "erp", rec({"name": "E"}), base, current=current
    )
    assert plan.target is None
    assert plan.revert is not None and plan.revert.values == {"name": "C"}
    assert plan.values["name"] == "C"


def test_both_changed_newest_wins() -> None:
    base = {"name": "A"}
    older = TargetRecord("001", {"name": "C"}, T0)
    plan = plan_of(rules("newest_wins"), "erp", rec({"name": "E"}, minutes=9), base, current=older)
    assert plan.target is not None and plan.target.values == {"name": "E"}
    newer = TargetRecord("001", {"name": "C"}, T0 + timedelta(minutes=10))
    plan = plan_of(rules("newest_wins"), "erp", rec({"name": "E"}, minutes=9), base, current=newer)
    assert plan.target is None
    assert plan.revert is not None and plan.revert.values == {"name": "C"}


def test_both_changed_manual_raises_a_conflict_and_writes_nothing() -> None:
    base = {"name": "A"}
    current = TargetRecord("001", {"name": "C"}, T0)
    plan = plan_of(rules("manual"), "crm", rec({"name": "X"}), base, partner="E1", current=current)
    assert plan.target is None and plan.revert is None
    assert len(plan.conflicts) == 1
    conflict = plan.conflicts[0]
    assert (conflict.field, conflict.base, conflict.erp_value, conflict.crm_value) == (
        "name",
        "A",
        "C",
        "X",
    )
    assert plan.values["name"] == "A"


def test_both_changed_to_the_same_value_converges_without_a_write() -> None:
    base = {"name": "A"}
    current = TargetRecord("001", {"name": "B"}, T0)
    plan = plan_of(rules("manual"), "erp", rec({"name": "B"}), base, current=current)
    assert plan.noop
    assert plan.values["name"] == "B"


def test_held_fields_are_left_alone() -> None:
    plan = plan_of(
        rules(),
        "erp",
        rec({"name": "B", "tax_id": "2"}),
        base={"name": "A", "tax_id": "1"},
        held=frozenset({"name"}),
    )
    assert plan.target is not None and plan.target.values == {"tax_id": "2"}


def test_delete_policies() -> None:
    base = {"name": "A"}
    deleted = rec({}, deleted=True)
    delete = plan_of(rules(delete="delete"), "erp", deleted, base)
    assert delete.target is not None and (delete.target.action, delete.target.key) == (
        "delete",
        "001",
    )
    archive = plan_of(rules(delete="archive"), "crm", deleted, base, partner="E1")
    assert archive.target is not None and archive.target.action == "flag"
    ignore = plan_of(rules(delete="ignore"), "erp", deleted, base)
    assert ignore.target is None and ignore.deleted
    unlinked = plan_of(rules(), "erp", deleted, None, partner=None)
    assert unlinked.target is None


values = st.dictionaries(
    st.sampled_from(["name", "tax_id", "phone", "x_note"]),
    st.one_of(st.none(), st.text(max_size=3), st.integers(-3, 3)),
)


@given(base=values, erp=values, crm=values)
def test_no_ping_pong(base: dict[str, Any], erp: dict[str, Any], crm: dict[str, Any]) -> None:
    """Apply the ERP's change, then feed both sides back in: the second round writes nothing."""
    systems = {"erp": {**base, **erp}, "crm": {**base, **crm}}
    both_ways: tuple[tuple[Side, Side], ...] = (("erp", "crm"), ("crm", "erp"))

    def plan_from(source: Side, target: Side, agreed: dict[str, Any]) -> RecordPlan:
        """The plan of the source's record as it stands, against the target's."""
        current = TargetRecord("t", systems[target], T0)
        record = SourceRecord("s", systems[source], T0)
        return plan_of(rules("owner_wins"), source, record, agreed, partner="t", current=current)

    agreed = dict(base)
    for source, target in both_ways:
        plan = plan_from(source, target, agreed)
        for intent in (plan.target, plan.revert):
            if intent is not None:
                systems[intent.side].update(intent.values)
        agreed = plan.values
    for source, target in both_ways:
        again = plan_from(source, target, agreed)
        assert again.target is None and again.revert is None


def test_a_record_whose_partner_was_deleted_is_not_brought_back_by_a_re_read() -> None:
    base = {"name": "A"}
    again = plan_of(rules(), "crm", rec({"name": "A"}), base, base_deleted=True, partner="E1")
    assert again.noop
    edited = plan_of(rules(), "crm", rec({"name": "B"}), base, base_deleted=True, partner="E1")
    assert edited.target is not None and edited.target.action == "create"


def flag_rules(policy: str = "flag") -> Rules:
    """Rules whose flag field is mapped: canonical ``active`` holds the flag on each side."""
    return Rules(
        owner_of=lambda f: "both",
        default_owner="erp",
        conflict="owner_wins",
        delete=policy,  # type: ignore[arg-type]
        flagged={"erp": {"active": False}, "crm": {"active": False}},
    )


def test_a_flag_write_is_agreed_so_the_flagged_survivor_reads_back_as_an_echo() -> None:
    base = {"name": "A", "active": True}
    delete = plan_of(flag_rules(), "erp", rec({}, deleted=True), base)
    assert delete.target is not None and delete.target.action == "flag"
    assert delete.deleted and delete.values == {"name": "A", "active": False}
    echo = plan_of(
        flag_rules(),
        "crm",
        SourceRecord("001", {"name": "A", "active": False}, T0),
        base=delete.values,
        base_deleted=True,
        partner="42",
    )
    assert echo.noop and echo.target is None


def test_an_archived_survivor_edited_but_still_flagged_stays_deleted() -> None:
    plan = plan_of(
        flag_rules(),
        "crm",
        SourceRecord("001", {"name": "B", "active": False}, T0),
        base={"name": "A", "active": False},
        base_deleted=True,
        partner="42",
    )
    assert plan.target is None and plan.revert is None
    assert plan.deleted and plan.values == {"name": "B", "active": False}


def test_clearing_the_flag_brings_the_record_back() -> None:
    plan = plan_of(
        flag_rules(),
        "crm",
        SourceRecord("001", {"name": "A", "active": True}, T0),
        base={"name": "A", "active": False},
        base_deleted=True,
        partner="42",
    )
    assert plan.target is not None and plan.target.action == "create"
    assert plan.target.values == {"name": "A", "active": True}
    assert not plan.deleted


def test_flag_marks_hold_only_the_fields_read_from_the_flag() -> None:
    flow = parse_flow(
        """
version: 1
name: marks
connections:
  erp: {type: sql, url: "sqlite://"}
  crm: {type: sql, url: "sqlite://"}
entities:
  price_list_entry:
    model: price_list_entry
    direction: both
    delete: {policy: flag, erp_field: active, crm_field: IsActive, value: false}
    erp: {source: entries, key: id, external_id: crm_id}
    crm: {source: PricebookEntry, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: unit_price.amount, erp: unit_price, crm: UnitPrice}
      - {field: unit_price.currency, erp: currency, default: PLN}
      - {field: active, erp: active, crm: IsActive}
  product:
    model: product
    direction: both
    delete: {policy: flag, erp_field: active, crm_field: IsActive, value: false}
    erp: {source: products, key: id, external_id: crm_id}
    crm: {source: Product2, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: name, erp: name, crm: Name}
""",
        base_dir=Path("."),
    )
    mapper = Mapper(flow)
    entry, product = flow.entity("price_list_entry"), flow.entity("product")
    # the currency's default is not a flag: only `active` is read from the flag field
    assert flag_marks(entry, mapper) == {"erp": {"active": False}, "crm": {"active": False}}
    assert flag_marks(product, mapper) == {}  # the flag field is not mapped
