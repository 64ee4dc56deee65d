"""Links dropped many at a time: a delete synced under the ``delete`` policy drops its link,
and ``status`` (``StateStore.stats``) stops counting the record."""

from __future__ import annotations

from tandem.store import StateStore, SyncedState


def test_unlink_many_drops_the_links_of_the_keys_on_either_side(
    store: StateStore, name: str
) -> None:
    store.link_many(name, [("1", "A"), ("2", "B"), ("3", "C")])
    assert store.unlink_many(name, "erp", ["1", "9", "1"]) == 1
    assert store.unlink_many(name, "crm", ["B"]) == 1
    assert store.unlink_many(name, "crm", []) == 0
    assert store.partners(name, "erp", ["1", "2", "3"]) == {"3": "C"}
    assert store.count_links(name) == 1


def test_status_no_longer_counts_an_unlinked_record_its_tombstone_keeps_both_keys(
    store: StateStore, name: str
) -> None:
    store.link_many(name, [("1", "A"), ("2", "B")])
    with store.transaction():
        store.unlink_many(name, "erp", ["1"])
        store.save_synced([SyncedState(name, "1", "A", {"n": 1}, None, None, deleted=True)])
    assert store.stats("flow")["links"][name] == 1
    tomb = store.synced(name, "crm", ["A"])["A"]
    assert (tomb.erp_key, tomb.crm_key, tomb.deleted) == ("1", "A", True)
    # the delete's echo from the other side, read with no partner, keeps the ERP key
    store.save_synced([SyncedState(name, None, "A", {"n": 1}, None, None, deleted=True)])
    assert store.synced(name, "erp", ["1"])["1"].crm_key == "A"
