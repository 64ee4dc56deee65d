"""``newest_wins`` with no ERP change time: a field changed on both sides is a conflict.

An ERP row the change log holds no entry for (the log pruned past it, or the edit made while
the capture was not installed) reads as modified at the epoch. That is no time at all, so
there is no newest side: the field is queued for a person, as under ``manual``, instead of
going to the CRM's value silently.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from test_plan import T0, plan_of, rec, rules
from test_reconcile_heal_kinds import NEWEST_WINS, NoChangeLog, partner, synced

from tandem.pipeline.plan import SourceRecord, TargetRecord
from tandem.pipeline.reconcile import reconcile

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_a_crm_change_against_an_erp_row_without_a_change_time_is_a_conflict() -> None:
    erp_now = TargetRecord("E1", {"name": "E"}, EPOCH)
    plan = plan_of(rules("newest_wins"), "crm", rec({"name": "C"}), {"name": "A"}, current=erp_now)
    assert plan.target is None and plan.revert is None
    assert [(c.field, c.base, c.erp_value, c.crm_value) for c in plan.conflicts] == [
        ("name", "A", "E", "C")
    ]


def test_an_erp_change_without_a_change_time_is_a_conflict() -> None:
    record = SourceRecord("42", {"name": "E"}, EPOCH)
    crm_now = TargetRecord("001", {"name": "C"}, T0)
    plan = plan_of(rules("newest_wins"), "erp", record, {"name": "A"}, current=crm_now)
    assert plan.target is None and plan.revert is None
    assert [(c.field, c.erp_value, c.crm_value) for c in plan.conflicts] == [("name", "E", "C")]


def test_a_known_erp_time_still_picks_the_newest() -> None:
    crm_now = TargetRecord("001", {"name": "C"}, T0)
    plan = plan_of(
        rules("newest_wins"), "erp", rec({"name": "E"}, 5), {"name": "A"}, current=crm_now
    )
    assert plan.conflicts == []
    assert plan.target is not None and plan.target.values == {"name": "E"}


async def test_heal_queues_a_field_both_changed_without_an_erp_time(tmp_path: Path) -> None:
    erp = NoChangeLog("erp")
    engine, crm = await synced(tmp_path, NEWEST_WINS, erp)
    crm_key = partner(engine, "1")
    erp.records["customers"]["1"]["name"] = "Acme ERP"  # not captured: no change-log entry
    crm.records["Account"][crm_key]["Name"] = "Acme CRM"

    report = await reconcile(engine, heal=True)

    assert report.healed == 1 and report.unrepaired == 1  # held by the open conflict
    assert erp.records["customers"]["1"]["name"] == "Acme ERP"  # neither side overwritten
    assert crm.records["Account"][crm_key]["Name"] == "Acme CRM"
    conflicts = engine.store.conflicts(flow=engine.flow.name, status="open")
    assert [(c.erp_key, c.field, c.erp_value, c.crm_value) for c in conflicts] == [
        ("1", "name", "Acme ERP", "Acme CRM")
    ]
