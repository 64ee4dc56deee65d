"""Schema snapshots are kept per flow, side and object, and replaced on save."""

from __future__ import annotations

from tandem.store import StateStore


def test_snapshot_round_trip_and_replace(store: StateStore, name: str) -> None:
    assert store.schema_snapshot(name, "crm", "Account") is None
    fields = {"Name": {"type": "string", "length": 255, "picklist": None}}
    store.save_schema_snapshot(name, "crm", "Account", fields)
    assert store.schema_snapshot(name, "crm", "Account") == fields
    assert store.schema_snapshot(name, "erp", "Account") is None
    changed = {**fields, "Phone": {"type": "phone", "length": 40, "picklist": None}}
    store.save_schema_snapshot(name, "crm", "Account", changed)
    assert store.schema_snapshot(name, "crm", "Account") == changed
