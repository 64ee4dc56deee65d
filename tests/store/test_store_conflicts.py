"""Conflicts: one open conflict per record and field, resolved by a person or a policy."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tandem.errors import StoreError
from tandem.store import StateStore

from .conftest import FakeClock

ERP_AT = datetime(2024, 5, 1, 10, tzinfo=UTC)
CRM_AT = datetime(2024, 5, 1, 11, tzinfo=UTC)


def add(store: StateStore, flow: str, key: str = "42", field: str = "phone", **kw: object) -> int:
    values: dict[str, object] = {"base_value": "1", "erp_value": "2", "crm_value": "3"}
    values.update(kw)
    return store.add_conflict(
        flow=flow,
        entity="customer",
        erp_key=key,
        crm_key=f"C{key}",
        field=field,
        erp_modified=ERP_AT,
        crm_modified=CRM_AT,
        **values,
    )


def test_conflict_keeps_typed_values(store: StateStore, name: str, clock: FakeClock) -> None:
    cid = add(
        store,
        name,
        field="credit",
        base_value=Decimal("10"),
        erp_value=Decimal("12.50"),
        crm_value=None,
    )
    [conflict] = store.conflicts(flow=name)
    assert conflict.id == cid
    assert (conflict.erp_key, conflict.crm_key, conflict.field) == ("42", "C42", "credit")
    assert conflict.base_value == Decimal("10") and conflict.erp_value == Decimal("12.50")
    assert conflict.crm_value is None
    assert (conflict.erp_modified, conflict.crm_modified) == (ERP_AT, CRM_AT)
    assert (conflict.status, conflict.resolution, conflict.resolved_at) == ("open", None, None)
    assert conflict.created_at == clock.now


def test_same_open_conflict_is_updated_not_duplicated(store: StateStore, name: str) -> None:
    first = add(store, name)
    again = add(store, name, erp_value="2b")
    other_field = add(store, name, field="email")
    assert again == first and other_field != first
    conflicts = {c.field: c for c in store.conflicts(flow=name)}
    assert len(conflicts) == 2 and conflicts["phone"].erp_value == "2b"


@pytest.mark.parametrize(
    ("resolution", "value", "expected"),
    [("erp", None, "2"), ("crm", None, "3"), ("value", date(2024, 1, 2), date(2024, 1, 2))],
)
def test_resolve(
    store: StateStore, name: str, clock: FakeClock, resolution: str, value: object, expected: object
) -> None:
    cid = add(store, name)
    clock.advance(30)
    done = store.resolve_conflict(cid, resolution, value)  # type: ignore[arg-type]
    assert (done.status, done.resolution, done.resolved_value) == ("resolved", resolution, expected)
    assert done.resolved_at == clock.now
    assert store.conflicts(flow=name) == []
    assert store.conflicts(flow=name, status="resolved") == [done]
    # A new clash on the same field after resolution is a new conflict.
    assert add(store, name) != cid


def test_resolve_refusals(store: StateStore, name: str) -> None:
    cid = add(store, name)
    with pytest.raises(StoreError, match="resolution must be"):
        store.resolve_conflict(cid, "both")  # type: ignore[arg-type]
    store.resolve_conflict(cid, "erp")
    with pytest.raises(StoreError, match=r"already resolved \(erp\)"):
        store.resolve_conflict(cid, "crm")
    with pytest.raises(StoreError, match="does not exist"):
        store.resolve_conflict(10**9, "crm")


def test_open_conflict_fields(store: StateStore, name: str) -> None:
    add(store, name, key="1", field="phone")
    add(store, name, key="1", field="email")
    resolved = add(store, name, key="2", field="phone")
    store.resolve_conflict(resolved, "crm")
    keys = [str(i) for i in range(700)]
    assert store.open_conflict_fields(name, "customer", keys) == {"1": {"phone", "email"}}
    assert store.open_conflict_fields(name, "contact", keys) == {}


def test_conflict_by_id(store: StateStore, name: str) -> None:
    cid = add(store, name)
    found = store.conflict(cid)
    assert found is not None and (found.id, found.field) == (cid, "phone")
    assert store.conflict(10**9) is None


def test_records_serialise_for_the_cli(store: StateStore, name: str) -> None:
    import dataclasses

    add(store, name)
    [conflict] = store.conflicts(flow=name)
    assert vars(conflict) == dataclasses.asdict(conflict)
