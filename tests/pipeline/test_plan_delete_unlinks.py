"""The planner's side of dropping a link: a delete under the ``delete`` policy leaves the
record in neither system, so its link goes; a record read alive again under the key is new."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tandem.pipeline.plan import Rules, SourceRecord, plan_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BASE = {"name": "A", "tax_id": "1"}


def rules(delete: str) -> Rules:
    return Rules(
        owner_of=lambda f: "erp",
        default_owner="erp",
        conflict="owner_wins",
        delete=delete,  # type: ignore[arg-type]
    )


def rec(values: dict[str, Any], deleted: bool = False) -> SourceRecord:
    return SourceRecord("42", values, T0, deleted)


@pytest.mark.parametrize(
    ("policy", "source", "action", "unlinks"),
    [
        ("delete", "erp", "delete", True),
        ("delete", "crm", "delete", True),
        ("archive", "erp", "delete", False),  # the CRM keeps it in its recycle bin
        ("archive", "crm", "flag", False),
        ("flag", "erp", "flag", False),
    ],
)
def test_only_the_delete_policy_drops_the_link(
    policy: str, source: str, action: str, unlinks: bool
) -> None:
    plan = plan_record(
        rules(policy),
        source,  # type: ignore[arg-type]
        rec({}, deleted=True),
        base=BASE,
        base_deleted=False,
        partner="001",
        current=None,
    )
    assert plan.target is not None and plan.target.action == action
    assert plan.unlinks is unlinks


def test_a_record_created_again_after_both_were_deleted_is_created_with_its_old_values() -> None:
    plan = plan_record(
        rules("delete"),
        "erp",
        rec(dict(BASE)),
        base=BASE,
        base_deleted=True,
        partner=None,
        current=None,
    )
    assert plan.target is not None
    assert (plan.target.action, plan.target.values) == ("create", BASE)
    assert not plan.unlinks


@pytest.mark.parametrize("policy", ["ignore", "flag", "archive"])
def test_a_survivor_still_linked_read_again_unchanged_stays_where_its_policy_put_it(
    policy: str,
) -> None:
    plan = plan_record(
        rules(policy),
        "erp",
        rec(dict(BASE)),
        base=BASE,
        base_deleted=True,
        partner="001",
        current=None,
    )
    assert plan.noop


def test_the_echo_of_a_delete_that_dropped_its_link_plans_nothing() -> None:
    plan = plan_record(
        rules("delete"),
        "crm",
        rec({}, deleted=True),
        base=BASE,
        base_deleted=True,
        partner=None,
        current=None,
    )
    assert plan.noop and plan.deleted and not plan.unlinks
