"""codec.loads's fast path (decoding while parsing) answers as the plain parse-then-walk does."""

from __future__ import annotations

import gc
import json
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from tandem import codec
from tandem.codec import dumps, loads

from .test_codec import same, values


def plain(text: str | bytes) -> Any:
    """loads by its definition: parse, then decode the tagged objects from the outside in."""
    return codec._decode(json.loads(text))


def outcome(decode: Any, text: str | bytes) -> tuple[Any, ...]:
    try:
        return ("ok", decode(text))
    except ValueError as exc:
        return ("refused", type(exc), str(exc))


def assert_same_outcome(text: str | bytes) -> None:
    fast, slow = outcome(loads, text), outcome(plain, text)
    assert fast[0] == slow[0], (text, fast, slow)
    if fast[0] == "ok":
        assert same(fast[1], slow[1]), (text, fast[1], slow[1])
    else:
        assert fast == slow


@settings(max_examples=300, deadline=None)
@given(values)
def test_what_dumps_writes_is_read_as_the_plain_way_reads_it(value: Any) -> None:
    assert_same_outcome(dumps(value))


# JSON that dumps would not write: tags around containers, tags with bad text, "$map" in odd
# places, keys that only look like tags. Both ways must agree on the value or on the error.
TAG_KEYS = st.sampled_from(["$dec", "$date", "$dt", "$bytes", "$map", "$x", "a", "b"])
RAW_TEXT = st.sampled_from(
    ["1.5", "x", "2024-05-01", "2024-05-01T10:00:00+00:00", "2024-05-01T10:00:00", "AP8=", "!", ""]
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), RAW_TEXT, st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(TAG_KEYS, inner, max_size=3),
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
@example({"$map": {"$map": {"a": 1}}})
def test_any_json_is_read_or_refused_as_the_plain_way_does(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    assert_same_outcome(text)
    assert_same_outcome(json.dumps(value))  # with \u escapes, when it has non-ASCII text


def test_text_the_fast_path_leaves_to_the_plain_way() -> None:
    record = dumps({"a": Decimal("1.50"), "since": date(2020, 1, 2), "$dec": "x"})
    for text in (
        record,  # holds "$map"
        dumps({"$map": {"a": 1}}),  # a $map inside a $map: decoded inside out, one is lost
        dumps([{"$map": {"$dec": "1"}}, {"$dt": 1}]),
        '{"\\u0024map": {"\\u0024map": {"a": 1}}}',  # spells "$map" with an escape
        '{"$m\\u0061p": {"$m\\u0061p": {"a": 1}}}',
        '  {"$dec": "1"}',  # space around the value
        '{"$dec": "1"}\n',
        '{"$dec": "1"} x',  # extra data
        '{"$dec": "1"',  # cut short
        "",
        '{"$dec": {"$dec": "1"}}',  # a tag around a tag: refused both ways
        '{"$bytes": "é"}',
        b'{"$dec": "1"}',  # bytes
        bytearray(b'{"a": {"$date": "2024-05-01"}}'),
    ):
        assert_same_outcome(text)


def test_a_record_read_holds_scalars_only_and_is_not_tracked_by_the_collector() -> None:
    record = loads(dumps({"name": "Acme", "limit": Decimal("10.50"), "since": date(2020, 1, 2)}))
    assert same(record, {"name": "Acme", "limit": Decimal("10.50"), "since": date(2020, 1, 2)})
    assert not gc.is_tracked(record)


def test_a_dict_subclass_is_written_as_the_equal_plain_dict() -> None:
    from tandem.mapping import ValuesWithFlag

    for plain_values in (
        {"name": "Łódź", "limit": Decimal("10.50"), "since": date(2024, 5, 1), "fax": None},
        {"$odd": 1, "nested": {"a": [1, 2]}},
    ):
        record = ValuesWithFlag(False)
        record.update(plain_values)
        assert dumps(record) == dumps(dict(plain_values))
        assert loads(dumps(record)) == plain_values
