"""Dead letters: de-duplicated per open record, with status changes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tandem.errors import StoreError
from tandem.store import StateStore

from .conftest import FakeClock


def add(store: StateStore, flow: str, key: str = "42", **kw: object) -> int:
    return store.add_dead_letter(
        flow=flow,
        entity="customer",
        side="erp",
        record_key=key,
        message="bad",
        **kw,  # type: ignore[arg-type]
    )


def test_a_dead_letter_keeps_everything(store: StateStore, name: str, clock: FakeClock) -> None:
    first = store.add_dead_letter(
        flow=name,
        entity="customer",
        side="erp",
        record_key="42",
        message="INVALID_EMAIL_ADDRESS: Email: invalid email address: foo@",
        field="Email",
        value="foo@",
        code="INVALID_EMAIL_ADDRESS",
        payload={"name": "Acme", "credit": Decimal("10.50")},
    )
    [letter] = store.dead_letters(flow=name)
    assert letter.id == first
    assert (letter.entity, letter.side, letter.record_key) == ("customer", "erp", "42")
    assert (letter.field, letter.value, letter.code) == ("Email", "foo@", "INVALID_EMAIL_ADDRESS")
    assert letter.payload == {"name": "Acme", "credit": Decimal("10.50")}
    assert (letter.attempts, letter.status) == (1, "open")
    assert letter.created_at == letter.updated_at == clock.now


def test_the_same_open_record_is_updated_not_duplicated(
    store: StateStore, name: str, clock: FakeClock
) -> None:
    first = add(store, name, value=12345)
    clock.advance(60)
    again = store.add_dead_letter(
        flow=name, entity="customer", side="erp", record_key="42", message="still bad"
    )
    other = add(store, name, key="43")
    assert again == first and other != first
    letters = {d.record_key: d for d in store.dead_letters(flow=name)}
    assert len(letters) == 2
    assert (letters["42"].attempts, letters["42"].message) == (2, "still bad")
    assert letters["42"].updated_at == clock.now
    assert letters["42"].created_at < letters["42"].updated_at


def test_value_is_a_truncated_repr(store: StateStore, name: str) -> None:
    add(store, name, key="1", value=Decimal("1.5"))
    add(store, name, key="2", value="x" * 5000)
    letters = {d.record_key: d for d in store.dead_letters(flow=name)}
    assert letters["1"].value == "Decimal('1.5')"
    assert letters["2"].value is not None and len(letters["2"].value) == 1000


def test_status_changes_and_filters(store: StateStore, name: str) -> None:
    ids = [add(store, name, key=str(i)) for i in range(5)]
    assert store.set_dead_letter_status(ids[:2], "retrying") == 2
    assert store.set_dead_letter_status([ids[4]], "dropped") == 1
    assert len(store.dead_letters(flow=name)) == 2
    assert len(store.dead_letters(flow=name, status="retrying")) == 2
    assert len(store.dead_letters(flow=name, status=None)) == 5
    assert len(store.dead_letters(flow=name, status=None, limit=2, offset=4)) == 1
    assert store.dead_letters(flow=name, entity="contact") == []
    # A retried record that fails again re-opens the same letter.
    assert add(store, name, key="0") == ids[0]
    assert store.dead_letters_by_id([ids[0]])[0].status == "open"
    # A dropped record that fails again gets a new letter.
    assert add(store, name, key="4") not in ids
    with pytest.raises(StoreError, match="status must be one of"):
        store.set_dead_letter_status(ids, "gone")


def test_resolved_when_the_record_went_through(store: StateStore, name: str) -> None:
    ids = [add(store, name, key=str(i)) for i in range(3)]
    store.set_dead_letter_status([ids[1]], "retrying")
    assert store.resolve_dead_letters(name, "customer", "erp", ["0", "1", "99"]) == 2
    assert store.resolve_dead_letters(name, "customer", "crm", ["2"]) == 0
    assert [d.record_key for d in store.dead_letters(flow=name)] == ["2"]
    assert len(store.dead_letters(flow=name, status="resolved")) == 2
