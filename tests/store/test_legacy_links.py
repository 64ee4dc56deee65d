"""Links an earlier release left to records deleted in both systems (``tandem.store.legacy``).

Until schema revision 0005 a delete synced under the ``delete`` policy kept the link of its two
keys. Each test builds a store the way that release left it (link, tombstone, the audited
write to the partner), upgrades it (the schema put back at 0004, then migrated: revision 0005
runs), and repairs it. Every test has a database of its own: the upgrade mark is store-wide.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tandem.store import AuditEntry, Side, StateStore, SyncedState, legacy
from tandem.store.engine import VERSION_TABLE, create_engine
from tandem.store.owner import STORE_WIDE

FLOW = "legacy"
ENTITY = "customer"
AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
BOUND = AT - timedelta(days=1)
"""When the store was bound to its flow (the first run of a release that audits flags)."""


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("pg_fresh_url", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb_fresh_url", id="mariadb", marks=pytest.mark.mariadb),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of this test alone, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    found: str = request.getfixturevalue(request.param)
    return found


class Clock:
    """The store's clock: at the binding, a day before the audit entries the tests write."""

    def __init__(self) -> None:
        self.now = BOUND

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(url: str, clock: Clock) -> Iterator[StateStore]:
    """A store bound to its flow a day before the audit entries the tests write."""
    state = StateStore(url, auto_migrate=True, clock=clock)
    state.bind_flow(FLOW)
    yield state
    state.close()


def deleted_both(
    store: StateStore,
    erp_key: str,
    crm_key: str,
    *,
    source: Side = "erp",
    action: str = "delete",
    cause_key: str | None = None,
    entity: str = ENTITY,
    at: datetime = AT,
) -> None:
    """What the earlier release left of a record whose delete it synced: the link kept, the
    tombstone, and the audited write to the partner (``action``) that the delete caused."""
    key, target, partner = (
        (erp_key, "crm", crm_key) if source == "erp" else (crm_key, "erp", erp_key)
    )
    cause = f"{source}:{entity}:{cause_key or key}@{at.isoformat()}"
    with store.transaction():
        store.link(entity, erp_key, crm_key)
        store.save_synced([SyncedState(entity, erp_key, crm_key, {"name": key}, at, at, True)])
        store.audit(
            [AuditEntry(FLOW, entity, target, partner, action, {"name": key}, None, cause, at)]
        )


def alive(store: StateStore, erp_key: str, crm_key: str, *, entity: str = ENTITY) -> None:
    """A record synced and alive in both systems."""
    with store.transaction():
        store.link(entity, erp_key, crm_key)
        store.save_synced([SyncedState(entity, erp_key, crm_key, {"name": erp_key}, AT, AT)])
        cause = f"erp:{entity}:{erp_key}@{AT.isoformat()}"
        store.audit([AuditEntry(FLOW, entity, "crm", crm_key, "create", None, {}, cause, AT)])


def upgrade(store: StateStore, url: str) -> None:
    """The store as the earlier release left it (schema 0004), migrated by this one."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0004'"))
    engine.dispose()
    store.migrate()


def links(store: StateStore, entity: str = ENTITY) -> dict[str, str]:
    keys = [str(n) for n in range(1, 10)] + ["6_1", "g"]
    return store.partners(entity, "erp", keys)


def test_a_link_left_by_a_delete_from_either_system_goes_and_status_stops_counting_it(
    store: StateStore, url: str
) -> None:
    deleted_both(store, "1", "A", source="erp")
    deleted_both(store, "2", "B", source="crm")
    alive(store, "3", "C")
    upgrade(store, url)
    assert store.stats(FLOW)["links"] == {ENTITY: 3}

    done = store.repair_legacy_links(FLOW, ENTITY)

    assert done == legacy.Repair(dropped=2)
    assert store.stats(FLOW)["links"] == {ENTITY: 1}
    assert links(store) == {"3": "C"}
    # the tombstones keep both keys (the echoes of the deletes are still told by them)
    kept = store.synced(ENTITY, "erp", ["1", "2"])
    assert {k: (s.crm_key, s.deleted) for k, s in kept.items()} == {
        "1": ("A", True),
        "2": ("B", True),
    }


def test_the_repair_twice_changes_nothing(store: StateStore, url: str) -> None:
    deleted_both(store, "1", "A")
    deleted_both(store, "2", "B", source="crm")
    alive(store, "3", "C")
    upgrade(store, url)
    assert store.repair_legacy_links(FLOW, ENTITY).dropped == 2

    assert store.repair_legacy_links(FLOW, ENTITY) == legacy.Repair()
    again = StateStore(url)  # another process: the memo says the repair ran
    try:
        assert again.repair_legacy_links(FLOW, ENTITY) == legacy.Repair()
    finally:
        again.close()
    # and the repair itself, run again without its memo, finds nothing more to drop
    mark = store.memo(STORE_WIDE, legacy.BOUNDARY)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            rerun = legacy.drop(
                conn, FLOW, ENTITY, first_id=mark["first_id"], last_id=mark["last_id"]
            )
    finally:
        engine.dispose()
    assert rerun == legacy.Repair()
    assert links(store) == {"3": "C"}
    assert store.memo(FLOW, legacy.done_memo(ENTITY)) == {"dropped": 2, "undecided": 0}


def test_survivors_of_archive_and_flag_keep_their_links_under_a_policy_now_delete(
    store: StateStore, url: str
) -> None:
    # archive: a delete from the CRM set the ERP's flag; flag: a delete from the ERP set the
    # CRM's flag. Both partners survive, linked.
    deleted_both(store, "1", "A", source="crm", action="flag")
    deleted_both(store, "2", "B", source="erp", action="flag")
    # a delete from the ERP wrote `delete` to the CRM: what archive writes there too; this
    # entity shows archive/flag writes, so it cannot be told from a delete
    deleted_both(store, "3", "C", source="erp")
    # a delete from the CRM that deleted the ERP record: only the delete policy does that
    deleted_both(store, "4", "D", source="crm")
    upgrade(store, url)

    done = store.repair_legacy_links(FLOW, ENTITY)

    assert done == legacy.Repair(dropped=1, undecided=1)
    assert links(store) == {"1": "A", "2": "B", "3": "C"}
    assert store.memo(FLOW, legacy.done_memo(ENTITY)) == {"dropped": 1, "undecided": 1}


def test_a_tombstone_still_linked_after_the_upgrade_is_a_survivor(
    store: StateStore, url: str
) -> None:
    alive(store, "9", "Z")  # the earlier release's audit log: a create
    upgrade(store, url)
    # this release, policy archive: a delete from the ERP deleted the CRM record and kept
    # the link; the policy is switched to delete afterwards
    deleted_both(store, "1", "A", at=AT + timedelta(days=1))

    assert store.repair_legacy_links(FLOW, ENTITY) == legacy.Repair()
    assert links(store) == {"1": "A", "9": "Z"}


def test_a_delete_audited_before_the_store_was_bound_proves_nothing(
    store: StateStore, url: str
) -> None:
    # releases before the owner binding audited a flag write as `delete` too
    deleted_both(store, "1", "A", source="crm", at=BOUND - timedelta(hours=1))
    deleted_both(store, "2", "B", source="erp", at=BOUND - timedelta(hours=1))
    deleted_both(store, "3", "C", source="crm")  # the one written after the binding
    upgrade(store, url)

    assert store.repair_legacy_links(FLOW, ENTITY) == legacy.Repair(dropped=1)
    assert links(store) == {"1": "A", "2": "B"}


def test_a_store_never_bound_to_its_flow_has_nothing_to_repair(url: str) -> None:
    unbound = StateStore(url, auto_migrate=True)
    try:
        deleted_both(unbound, "1", "A", source="crm")
        upgrade(unbound, url)
        assert unbound.memo(STORE_WIDE, legacy.BOUNDARY) is not None
        assert unbound.repair_legacy_links(FLOW, ENTITY) == legacy.Repair()
        assert links(unbound) == {"1": "A"}
    finally:
        unbound.close()


def test_a_store_begun_by_this_release_has_nothing_to_repair(store: StateStore) -> None:
    deleted_both(store, "1", "A")  # written by this release: not left behind

    assert store.memo(STORE_WIDE, legacy.BOUNDARY) is None
    assert store.repair_legacy_links(FLOW, ENTITY) == legacy.Repair()
    assert links(store) == {"1": "A"}


def test_evidence_that_does_not_name_the_record_keeps_the_link(store: StateStore, url: str) -> None:
    deleted_both(store, "1", "A")  # the one link proven gone
    # the ERP key deleted by the delete of an earlier record under it, not of this one
    deleted_both(store, "2", "B", source="crm", cause_key="B-earlier")
    # keys compared exactly: not as LIKE patterns, not without regard to case
    deleted_both(store, "6_1", "F", cause_key="6x1")
    deleted_both(store, "g", "G", cause_key="G")
    # no audit entry of the delete (pruned): nothing proves it
    with store.transaction():
        store.link(ENTITY, "3", "C")
        store.save_synced([SyncedState(ENTITY, "3", "C", {}, AT, AT, True)])
    # the record is alive again under both keys (brought back): no tombstone
    deleted_both(store, "4", "D")
    store.save_synced([SyncedState(ENTITY, "4", "D", {"name": "back"}, AT, AT, False)])
    # the tombstone is of an earlier partner: the key is linked to a new one now
    deleted_both(store, "5", "E")
    store.link(ENTITY, "5", "E2", replace=True)
    # the delete of another entity, and one in another flow's audit log
    deleted_both(store, "7", "H", entity="contact")
    with store.transaction():
        store.link(ENTITY, "8", "I")
        store.save_synced([SyncedState(ENTITY, "8", "I", {}, AT, AT, True)])
        cause = f"erp:{ENTITY}:8@{AT.isoformat()}"
        store.audit([AuditEntry("other", ENTITY, "crm", "I", "delete", {}, None, cause, AT)])
    upgrade(store, url)

    assert store.repair_legacy_links(FLOW, ENTITY) == legacy.Repair(dropped=1)
    assert links(store) == {
        "2": "B",
        "6_1": "F",
        "g": "G",
        "3": "C",
        "4": "D",
        "5": "E2",
        "8": "I",
    }
    assert links(store, "contact") == {"7": "H"}


def test_evidence_pruned_from_the_audit_log_proves_nothing(
    store: StateStore, url: str, clock: Clock
) -> None:
    deleted_both(store, "1", "A", source="crm")
    upgrade(store, url)
    clock.now = AT + timedelta(days=100)
    store.prune(audit_days=30, dead_letter_days=30)
    assert store.audit_log(flow=FLOW) == []

    assert store.repair_legacy_links(FLOW, ENTITY) == legacy.Repair()
    assert links(store) == {"1": "A"}


def test_ids_given_again_after_the_audit_log_was_pruned_empty_prove_nothing(
    store: StateStore, url: str, clock: Clock
) -> None:
    alive(store, "1", "A")
    alive(store, "2", "B")
    upgrade(store, url)
    clock.now = AT + timedelta(days=100)
    store.prune(audit_days=30, dead_letter_days=30)
    # this release, policy archive: the CRM record deleted, the link kept; on SQLite the
    # emptied audit table gives the entry an id of the earlier release's
    deleted_both(store, "3", "C", at=clock.now)

    assert store.repair_legacy_links(FLOW, ENTITY) == legacy.Repair()
    assert links(store) == {"1": "A", "2": "B", "3": "C"}


def test_migration_0005_marks_the_audit_entries_that_may_prove_a_delete(
    store: StateStore, url: str
) -> None:
    assert store.memo(STORE_WIDE, legacy.BOUNDARY) is None  # new store: no audit, no mark
    deleted_both(store, "1", "A", at=BOUND - timedelta(hours=1))  # before the binding
    alive(store, "2", "B")
    deleted_both(store, "3", "C", at=AT + timedelta(hours=1))
    newest = store.audit_log(flow=FLOW, limit=1)[0]
    upgrade(store, url)

    mark = store.memo(STORE_WIDE, legacy.BOUNDARY)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            ids = conn.execute(sa.text("SELECT id FROM tandem_audit ORDER BY id")).scalars()
            _before_binding, second, last = list(ids)
    finally:
        engine.dispose()
    assert mark == {"first_id": second, "last_id": last, "last_at": newest.at}
    assert newest.at == AT + timedelta(hours=1)
