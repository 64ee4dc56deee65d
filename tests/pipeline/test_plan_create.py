"""Planning a record the target does not have yet: every value but held ones, in a new dict."""

from __future__ import annotations

from datetime import UTC, datetime

from tandem.pipeline.plan import Rules, SourceRecord, plan_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULES = Rules(
    owner_of=lambda f: "both", default_owner="crm", conflict="owner_wins", delete="delete"
)


def test_a_create_takes_every_value_as_a_copy_with_the_fields_sorted() -> None:
    values = {"phone": "1", "name": "A", "tax_id": None}
    record = SourceRecord("42", values, T0)
    plan = plan_record(
        RULES, "erp", record, base=None, base_deleted=False, partner=None, current=None
    )
    assert plan.target is not None and plan.target.action == "create"
    assert plan.target.key is None and plan.target.side == "crm"
    assert plan.values == values and plan.target.values == values
    assert plan.changed == ("name", "phone", "tax_id")
    values["name"] = "changed later"
    assert plan.values["name"] == "A"  # the plan does not share the record's dict
    assert (plan.revert, plan.conflicts, plan.deleted, plan.noop) == (None, [], False, False)


def test_held_fields_are_not_created() -> None:
    record = SourceRecord("42", {"name": "A", "phone": "1"}, T0)
    plan = plan_record(
        RULES,
        "crm",
        record,
        base={"name": "old"},
        base_deleted=True,
        partner="7",
        current=None,
        held=frozenset({"name"}),
    )
    assert plan.target is not None and plan.target.action == "create"
    assert plan.target.side == "erp"
    assert plan.values == {"phone": "1"} and plan.changed == ("phone",)


def test_a_re_read_of_a_record_whose_partner_is_gone_brings_nothing_back() -> None:
    base = {"name": "A"}
    record = SourceRecord("42", {"name": "A"}, T0)
    plan = plan_record(
        RULES, "erp", record, base=base, base_deleted=True, partner="7", current=None
    )
    assert plan.noop and plan.values == base and plan.values is not base
    assert (plan.partner, plan.changed) == ("7", ())
