"""What the pipeline's commit of one batch leaves in the store, and in the pass report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from tandem.connectors.base import Cursor, WriteOutcome
from tandem.pipeline.events import EventBus
from tandem.pipeline.outcome import BatchCommitter, DeadLetterNote, PendingRecord
from tandem.pipeline.plan import FieldConflict, Intent, RecordPlan, SourceRecord
from tandem.pipeline.report import PassReport
from tandem.store import StateStore

T0 = datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)


def pending(
    key: str,
    values: dict[str, Any],
    *,
    partner: str | None = None,
    target: Intent | None = None,
    revert: Intent | None = None,
    outcome: WriteOutcome | None = None,
    conflicts: tuple[FieldConflict, ...] = (),
    source_values: dict[str, Any] | None = None,
    failed: bool = False,
) -> PendingRecord:
    record = SourceRecord(key, values, T0 + timedelta(minutes=int(key)))
    plan = RecordPlan(
        "erp",
        key,
        partner,
        target=target,
        revert=revert,
        values=values,
        conflicts=list(conflicts),
    )
    return PendingRecord(
        plan,
        record,
        base={"name": "Old", "limit": Decimal("1.0")} if partner else None,
        outcome=outcome,
        source_values=source_values or {},
        failed=failed,
    )


def test_a_batch_commits_links_states_audit_conflicts_and_letters(
    store: StateStore, name: str
) -> None:
    new = {"name": "Łódź Sp. z o.o.", "limit": Decimal("10.50"), "fax": None}
    edited = {"name": "New", "limit": Decimal("1.0")}
    plans = [
        pending(
            "1",
            new,
            target=Intent("crm", "create", None, new),
            outcome=WriteOutcome("1", True, "001A", created=True),
            source_values={"crm_id": "001A"},
        ),
        pending(
            "2",
            edited,
            partner="001B",
            target=Intent("crm", "update", "001B", {"name": "New"}),
            outcome=WriteOutcome("2", True, "001B"),
            conflicts=(FieldConflict("phone", "1", "2", "3"),),
        ),
        pending("3", {"name": "Same"}, partner="001C"),  # nothing to do
        pending("4", {"name": "Lost"}, target=Intent("crm", "create", None, {}), failed=True),
        pending(
            "5",
            {"name": "Kept", "phone": "9"},
            partner="001E",
            revert=Intent("erp", "update", "5", {"phone": "1"}),
        ),
    ]
    dead = [DeadLetterNote("erp", "6", "refused", field="name", value="x" * 5)]
    report = PassReport()
    committer = BatchCommitter(flow=name, store=store, bus=EventBus(), report=report)
    ctx: Any = SimpleNamespace(name=name)
    store.add_dead_letter(flow=name, entity=name, side="erp", record_key="1", message="old")

    committer.commit(ctx, "erp", plans, dead, Cursor(T0, "6"), {})

    assert report.counts[name]["erp->crm"] == {
        "linked": 1,
        "created": 1,
        "updated": 1,
        "conflicts": 1,
        "unchanged": 1,
        "reverted": 1,
        "dead_lettered": 1,
    }
    assert list(report.counts[name]["erp->crm"]) == [
        "linked",
        "created",
        "updated",
        "conflicts",
        "unchanged",
        "reverted",
        "dead_lettered",
    ]
    assert store.partners(name, "erp", ["1", "2", "3", "4", "5"]) == {"1": "001A"}
    states = store.synced(name, "erp", ["1", "2", "3", "4", "5"])
    assert sorted(states) == ["1", "2", "5"]
    assert states["1"].values == new and states["1"].crm_key == "001A"
    assert states["1"].erp_modified == T0 + timedelta(minutes=1)
    assert states["1"].crm_modified is None
    assert states["2"].values == edited and states["2"].crm_key == "001B"
    log = {(e.target, e.record_key, e.action): e for e in store.audit_log(flow=name)}
    assert sorted(log) == [
        ("crm", "001A", "create"),
        ("crm", "001B", "update"),
        ("erp", "1", "link"),
        ("erp", "5", "revert"),
    ]
    created = log["crm", "001A", "create"]
    assert (created.before, created.after) == (None, new)
    assert created.cause == f"erp:{name}:1@{(T0 + timedelta(minutes=1)).isoformat()}"
    updated = log["crm", "001B", "update"]
    assert (updated.before, updated.after) == ({"name": "Old"}, {"name": "New"})
    assert log["erp", "1", "link"].after == {"crm_id": "001A"}
    assert (log["erp", "5", "revert"].before, log["erp", "5", "revert"].after) == (
        {"phone": "9"},
        {"phone": "1"},
    )
    (conflict,) = store.conflicts(flow=name)
    assert (conflict.erp_key, conflict.crm_key, conflict.field) == ("2", "001B", "phone")
    assert (conflict.base_value, conflict.erp_value, conflict.crm_value) == ("1", "2", "3")
    letters = store.dead_letters(flow=name, status=None)
    assert {(d.record_key, d.status) for d in letters} == {("1", "resolved"), ("6", "open")}
    assert store.cursor(name, name, "erp") == Cursor(T0, "6")


def test_a_record_matched_to_a_partner_linked_elsewhere_is_dead_lettered_not_linked(
    store: StateStore, name: str
) -> None:
    # ERP record 8 was linked to 001X. The target matched record 9's upsert to 001X too
    # (an external ID compared without regard to case, say): linking it would give 001X
    # two ERP records. Record 9 is dead-lettered; the rest of the batch commits.
    store.link_many(name, [("8", "001X")])
    fresh = {"name": "Nine"}
    other = {"name": "Ten"}
    plans = [
        pending(
            "9",
            fresh,
            target=Intent("crm", "create", None, fresh),
            outcome=WriteOutcome("9", True, "001X", created=False),
        ),
        pending(
            "10",
            other,
            target=Intent("crm", "create", None, other),
            outcome=WriteOutcome("10", True, "001Y", created=True),
        ),
    ]
    dead: list[DeadLetterNote] = []
    report = PassReport()
    committer = BatchCommitter(flow=name, store=store, bus=EventBus(), report=report)
    ctx: Any = SimpleNamespace(name=name)

    committer.commit(ctx, "erp", plans, dead, Cursor(T0, "10"), {})

    assert store.partners(name, "erp", ["8", "9", "10"]) == {"8": "001X", "10": "001Y"}
    assert list(store.synced(name, "erp", ["9", "10"])) == ["10"]
    [letter] = store.dead_letters(flow=name)
    assert (letter.record_key, letter.code, letter.value) == ("9", "LINK_CLASH", "001X")
    assert "linked to record 8" in letter.message
    assert [note.key for note in dead] == ["9"] and plans[0].failed
    assert report.counts[name]["erp->crm"]["dead_lettered"] == 1
    cursor = store.cursor(name, name, "erp")
    assert cursor is not None and cursor.key == "10"
