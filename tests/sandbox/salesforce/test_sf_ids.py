"""Record ids: the case-safe checksum, 15/18 forms, generation order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tandem.sandbox.salesforce.ids import BASE62, IdGenerator, checksum, is_valid_id, to_18

id15s = st.text(alphabet=BASE62, min_size=15, max_size=15)


def test_known_checksum() -> None:
    # Chunks "00150", "00000", "Gv7qJ": only the last has capitals (positions 0 and 4 -> 17 = R).
    assert to_18("0015000000Gv7qJ") == "0015000000Gv7qJAAR"
    assert checksum("001000000000000") == "AAA"
    assert checksum("ABCDEABCDEABCDE") == "555"


def test_forms_and_validation() -> None:
    assert to_18("0015000000Gv7qJAAR") == "0015000000Gv7qJAAR"
    assert to_18("0015000000Gv7qJaar") == "0015000000Gv7qJAAR"  # suffix is case-insensitive
    assert to_18("0015000000Gv7qJAAA") is None  # wrong suffix
    assert to_18("0015000000Gv7q") is None  # 14 characters
    assert to_18("0015000000Gv7q-") is None
    assert not is_valid_id("")


@given(id15s)
def test_checksum_round_trip(id15: str) -> None:
    full = to_18(id15)
    assert full is not None and full[:15] == id15 and len(full) == 18
    assert to_18(full) == full
    assert is_valid_id(full) and is_valid_id(id15)


@given(id15s, id15s)
def test_checksum_tells_case_apart(a: str, b: str) -> None:
    # Two ids that differ only in case get different 18-character forms.
    if a.lower() == b.lower() and a != b:
        assert to_18(a) != to_18(b)


def test_generator_is_ordered_and_resumes() -> None:
    gen = IdGenerator("001")
    ids = [gen.next_id() for _ in range(200)]
    assert ids == sorted(ids) and len(set(ids)) == 200
    assert all(i.startswith("001") and is_valid_id(i) for i in ids)
    resumed = IdGenerator("001", ids[-1])
    assert resumed.next_id() > ids[-1]
