"""Dead-lettering many records builds no statement per letter: no reference cycles left."""

from __future__ import annotations

import gc

from tandem.store import StateStore


def _letter(store: StateStore, n: int) -> int:
    return store.add_dead_letter(
        flow="f",
        entity="customer",
        side="erp",
        record_key=f"K{n % 5}",  # five records, failing again and again: updates too
        message="invalid e-mail",
        field="email",
        value=f"not-an-address-{n}",
    )


def test_letters_added_and_failed_again_leave_no_cycles(store: StateStore) -> None:
    first = _letter(store, 0)
    gc.collect()
    gc.disable()
    try:
        ids = [_letter(store, n) for n in range(1, 31)]
        left = gc.collect()
    finally:
        gc.enable()
    assert left == 0
    assert len(set(ids) | {first}) == 5
    letters = store.dead_letters(flow="f")
    assert sorted(letter.attempts for letter in letters) == [6, 6, 6, 6, 7]
    assert {letter.value for letter in letters if letter.record_key == "K0"} == {
        "not-an-address-30"
    }
