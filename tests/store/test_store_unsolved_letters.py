"""Looking up which records have an unsolved dead letter, by key: the re-check of a reconcile
--heal asks this once per batch of queued records, however many letters the flow holds."""

from __future__ import annotations

from tandem.store import StateStore


def _letter(
    store: StateStore, flow: str, key: str, *, side: str = "erp", entity: str = "customer"
) -> int:
    return store.add_dead_letter(
        flow=flow,
        entity=entity,
        side=side,  # type: ignore[arg-type]
        record_key=key,
        message="bad",
    )


def test_only_open_and_retrying_letters_of_the_asked_keys_count(
    store: StateStore, name: str
) -> None:
    _letter(store, name, "1")
    retrying = _letter(store, name, "2")
    store.set_dead_letter_status([retrying], "retrying")
    resolved = _letter(store, name, "3")
    store.set_dead_letter_status([resolved], "resolved")
    dropped = _letter(store, name, "4")
    store.set_dead_letter_status([dropped], "dropped")
    _letter(store, name, "5", side="crm")  # the other side
    _letter(store, name, "6", entity="contact")  # another entity
    _letter(store, f"{name}-other", "7")  # another flow
    _letter(store, name, "8")  # not asked about

    asked = ["1", "2", "3", "4", "5", "6", "7", "missing"]
    assert store.unsolved_dead_letters(name, "customer", "erp", asked) == {"1", "2"}
    assert store.unsolved_dead_letters(name, "customer", "crm", asked) == {"5"}
    assert store.unsolved_dead_letters(name, "customer", "erp", []) == set()


def test_more_keys_than_one_chunk_are_all_looked_up(store: StateStore, name: str) -> None:
    keys = [str(n) for n in range(2_500)]
    for key in keys[::250]:
        _letter(store, name, key)
    found = store.unsolved_dead_letters(name, "customer", "erp", keys)
    assert found == set(keys[::250])
