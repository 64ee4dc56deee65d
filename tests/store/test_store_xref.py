"""The ID cross-reference: one ERP key <-> one CRM key per entity."""

from __future__ import annotations

import pytest

from tandem.errors import StoreError
from tandem.store import StateStore


def test_link_is_idempotent(store: StateStore, name: str) -> None:
    store.link(name, "42", "001A")
    store.link(name, "42", "001A")
    assert store.count_links(name) == 1
    assert store.partner(name, "erp", "42") == "001A"
    assert store.partner(name, "crm", "001A") == "42"
    assert store.partner(name, "erp", "43") is None


def test_relinking_an_erp_key_is_refused(store: StateStore, name: str) -> None:
    store.link(name, "42", "001A")
    with pytest.raises(StoreError, match=r"ERP key '42' is already linked to CRM key '001A'"):
        store.link(name, "42", "001B")
    assert store.partner(name, "erp", "42") == "001A"


def test_relinking_a_crm_key_is_refused(store: StateStore, name: str) -> None:
    store.link(name, "42", "001A")
    with pytest.raises(StoreError, match=r"CRM key '001A' is already linked to ERP key '42'"):
        store.link(name, "43", "001A")
    assert store.partner(name, "erp", "43") is None


def test_replace_moves_the_link(store: StateStore, name: str) -> None:
    store.link(name, "42", "001A")
    store.link(name, "43", "001B")
    store.link(name, "42", "001B", replace=True)
    assert store.partners(name, "erp", ["42", "43"]) == {"42": "001B"}
    assert store.partner(name, "crm", "001A") is None
    assert store.count_links(name) == 1


def test_entities_are_separate(store: StateStore, name: str) -> None:
    store.link(f"{name}a", "1", "X")
    store.link(f"{name}b", "1", "Y")
    assert store.partner(f"{name}a", "erp", "1") == "X"
    assert store.partner(f"{name}b", "erp", "1") == "Y"


def test_keys_are_case_sensitive(store: StateStore, name: str) -> None:
    # Salesforce 15-character Ids differ only by case.
    store.link(name, "1", "001xx000003DGb0")
    store.link(name, "2", "001xx000003DGB0")
    assert store.partners(name, "crm", ["001xx000003DGb0", "001xx000003DGB0"]) == {
        "001xx000003DGb0": "1",
        "001xx000003DGB0": "2",
    }


def test_unlink(store: StateStore, name: str) -> None:
    store.link(name, "1", "A")
    store.link(name, "2", "B")
    store.unlink(name, "crm", "A")
    store.unlink(name, "erp", "nope")
    assert store.partners(name, "erp", ["1", "2"]) == {"2": "B"}
    store.link(name, "1", "C")
    assert store.partner(name, "crm", "C") == "1"


def test_partners_in_bulk_beyond_one_chunk(store: StateStore, name: str) -> None:
    pairs = [(f"E{i}", f"C{i}") for i in range(1234)]
    assert store.link_many(name, pairs) == 1234
    assert store.link_many(name, pairs[:600]) == 0
    asked = [f"E{i}" for i in range(0, 1300)] + ["E5", "E5"]
    found = store.partners(name, "erp", asked)
    assert found == {f"E{i}": f"C{i}" for i in range(1234)}
    back = store.partners(name, "crm", [f"C{i}" for i in range(700, 1234)])
    assert len(back) == 534 and back["C700"] == "E700"
    assert store.count_links(name) == 1234


def test_link_many_refuses_a_clash_and_writes_nothing(store: StateStore, name: str) -> None:
    store.link(name, "1", "A")
    with pytest.raises(StoreError, match="already linked"):
        store.link_many(name, [("2", "B"), ("1", "Z")])
    assert store.count_links(name) == 1


def test_link_many_refuses_contradicting_pairs(store: StateStore, name: str) -> None:
    with pytest.raises(StoreError, match="different partners"):
        store.link_many(name, [("1", "A"), ("1", "B")])


def test_empty_key_is_refused(store: StateStore, name: str) -> None:
    with pytest.raises(StoreError, match="empty key"):
        store.link(name, "", "A")


def test_bad_side_is_refused(store: StateStore, name: str) -> None:
    with pytest.raises(StoreError, match="side"):
        store.partner(name, "sap", "1")  # type: ignore[arg-type]
