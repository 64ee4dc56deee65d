"""The planner's side of a CRM merge: a linked loser's delete is no delete of its partner,
whatever the delete policy; anything else about a delete is planned as before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tandem.pipeline.plan import Rules, SourceRecord, plan_record

T0 = datetime(2026, 1, 1, tzinfo=UTC)
BASE = {"name": "A", "tax_id": "1"}
MASTER = "001M"


def rules(delete: str) -> Rules:
    return Rules(
        owner_of=lambda f: "erp",
        default_owner="erp",
        conflict="owner_wins",
        delete=delete,  # type: ignore[arg-type]
        flag_values={"erp": False},
    )


def merged(key: str = "001L") -> SourceRecord:
    return SourceRecord(key, {}, T0, deleted=True, merged_into=MASTER)


@pytest.mark.parametrize("policy", ["delete", "archive", "flag", "ignore"])
def test_a_merged_loser_writes_nothing_and_lets_its_partner_go(policy: str) -> None:
    plan = plan_record(
        rules(policy), "crm", merged(), base=BASE, base_deleted=False, partner="7", current=None
    )
    assert plan.target is None and plan.revert is None and not plan.conflicts
    assert plan.merged_into == MASTER and plan.unlinks and plan.deleted
    assert plan.values == BASE


@pytest.mark.parametrize(
    ("partner", "base_deleted"),
    [(None, False), ("7", True)],  # never linked, or its delete was synced before
)
def test_a_loser_with_no_live_partner_is_a_plain_delete(
    partner: str | None, base_deleted: bool
) -> None:
    plan = plan_record(
        rules("archive"),
        "crm",
        merged(),
        base=BASE,
        base_deleted=base_deleted,
        partner=partner,
        current=None,
    )
    assert plan.merged_into is None and plan.target is None and plan.noop


def test_a_plain_crm_delete_still_follows_the_policy() -> None:
    plan = plan_record(
        rules("archive"),
        "crm",
        SourceRecord("001L", {}, T0, deleted=True),
        base=BASE,
        base_deleted=False,
        partner="7",
        current=None,
    )
    assert plan.merged_into is None
    assert plan.target is not None and plan.target.action == "flag"
