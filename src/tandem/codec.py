"""The one JSON entry point of Tandem: exact round-trips and stable hashes.

Plain JSON loses the types the engine cares about: ``Decimal("10.50")`` becomes a float,
dates and instants become strings nobody can tell apart from text, bytes do not encode at all.
:func:`dumps` writes them as one-key *tagged* objects and :func:`loads` reads them back
exactly::

    Decimal("10.50")                  -> {"$dec": "10.50"}
    date(2024, 5, 1)                  -> {"$date": "2024-05-01"}
    datetime(..., tzinfo=UTC)         -> {"$dt": "2024-05-01T10:00:00.000000+00:00"}
    b"\\x00\\xff"                       -> {"$bytes": "AP8="}
    {"$dec": 1} (a dict whose keys
     start with "$")                  -> {"$map": {"$dec": 1}}

Instants must be timezone-aware; they are stored in UTC (an aware value in another zone comes
back as the same instant in UTC). A naive ``datetime`` is refused, because guessing its zone is
how records shift by a day. Tuples come back as lists; sets, NaN/infinite floats and non-text
dict keys are refused.

:func:`stable_hash` digests a value independently of dict order and of how a decimal is written
(``Decimal("10.0")`` and ``Decimal("10")`` hash the same), for change detection.

A flat dict (text keys, scalar values) is written by the C encoder in one pass, with the same
text as the general path. Inside :func:`encode_once`, the same dict object is encoded once:
the store's commit of a batch hands one dict to a record's agreed state and to its audit entry.
"""

from __future__ import annotations

import base64
import hashlib
import json
import json.encoder
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

_DEC = "$dec"
_DATE = "$date"
_DT = "$dt"
_BYTES = "$bytes"
_MAP = "$map"
_TAGS = frozenset({_DEC, _DATE, _DT, _BYTES, _MAP})


def dumps(obj: Any) -> str:
    """Serialise ``obj`` to compact JSON text with tagged special values.

    Args:
        obj: ``None``, ``bool``, ``int``, ``float``, ``str``, ``Decimal``, ``date``, aware
            ``datetime``, ``bytes``, and lists, tuples and ``str``-keyed dicts of those.

    Returns:
        JSON text; dict keys are sorted, so equal values give equal text.

    Raises:
        TypeError: a value of an unsupported type, or a dict key that is not text.
        ValueError: a naive ``datetime`` or a NaN/infinite ``float``.
    """
    if not isinstance(obj, dict):  # a dict subclass (a mapper's record) takes the fast path
        return _ENCODER.encode(_encode(obj))
    memo = _MEMO.get()
    if memo is None:
        return _dumps_dict(obj)
    texts, alive = memo
    text = texts.get(id(obj))
    if text is None:
        text = texts[id(obj)] = _dumps_dict(obj)
        alive.append(obj)  # its id stays its own while the memory lasts
    return text


def _dumps_dict(obj: dict[Any, Any]) -> str:
    if _flat(obj):
        # Only scalars inside: the C encoder writes them, calling back for the tagged types.
        return _flat_text(obj)
    return _ENCODER.encode(_encode_map(obj, False))


_MEMO: ContextVar[tuple[dict[int, str], list[Any]] | None] = ContextVar(
    "tandem_codec_memo", default=None
)
"""Inside :func:`encode_once`: text by dict id, and the dicts (kept alive)."""


@contextmanager
def encode_once() -> Iterator[None]:
    """Within the block, :func:`dumps` encodes each dict object once and then reuses the text.

    For a caller that hands the very same dicts to several writes (a batch's agreed states
    and the audit entries that created them): the second write finds the first one's text.
    Dicts are known by identity and kept alive until the block ends, so the caller must not
    change any dict it has encoded inside the block. Nested blocks share the outer one's memory.
    """
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set(({}, []))
    try:
        yield
    finally:
        _MEMO.reset(token)


def loads(text: str | bytes) -> Any:
    """Parse JSON text written by :func:`dumps` back into the original values.

    Args:
        text: JSON text.

    Returns:
        The decoded value, tagged objects turned back into ``Decimal``, ``date``,
        ``datetime`` (aware, UTC) and ``bytes``.

    Raises:
        ValueError: the text is not valid JSON or a tagged value is malformed.
    """
    if type(text) is str and _MAP not in text and "\\u" not in text:
        try:
            obj, end = _scan_decoding(text, 0)
        except (StopIteration, ValueError):
            pass  # decoded again below, which words the error
        else:
            if end == len(text):
                return obj
    return _decode(json.loads(text))


def _object(obj: dict[str, Any]) -> Any:
    """The value of one JSON object whose own values are decoded already (the parser's
    ``object_hook``): a tagged value decoded, any other dict as it is."""
    if len(obj) == 1:
        ((tag, raw),) = obj.items()
        if tag in _TAGS:
            return _decode_tag(tag, raw)
    return obj


_scan_decoding: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(
    object_hook=_object
).scan_once  # type: ignore[attr-defined]
"""Parses one JSON value and decodes it on the way, each object as soon as it is complete.

:func:`loads`'s fast path, about a third cheaper than parsing and then walking the result:
the scanner itself without ``json.loads``'s wrappers, no second pass over the values, no
second dict per object (and a record's dict, holding only scalars once its tagged values are
decoded, is never tracked by the garbage collector). Decoding the innermost objects first
gives what :func:`_decode` gives from the outside in, save inside a ``$map``, whose dict must
not be read as a tagged value: text holding ``$map`` (or a ``\\u`` escape, which could spell
it) goes the plain way. So does text with anything after its value, and text that fails
here: it fails there too (a tagged value's raw JSON that is no string fails both ways), and
the plain way words the error.
"""


def stable_hash(obj: Any) -> str:
    """The SHA-256 hex digest of ``obj`` in a canonical form.

    The digest does not depend on dict key order, on the exponent a decimal is written
    with (``Decimal("10.0")`` == ``Decimal("10")``) or on the time zone an instant is given
    in. Types stay distinct: ``10``, ``10.0`` and ``Decimal("10")`` hash differently.

    Args:
        obj: a value :func:`dumps` accepts.

    Returns:
        64 lowercase hex characters.

    Raises:
        TypeError: as :func:`dumps`.
        ValueError: as :func:`dumps`.
    """
    text = json.dumps(
        _encode(obj, canonical=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_PLAIN = frozenset({str, int, bool, type(None)})
_SCALARS = frozenset({str, int, bool, type(None), Decimal, date, datetime, bytes})


def _flat(obj: dict[Any, Any]) -> bool:
    """True when ``obj`` can go to the C encoder as it is: text keys needing no ``$map``
    escape, and values of the scalar types only (finite floats included; the encoder calls
    back for the tagged ones). Anything else takes the general path, which words the errors.

    The dicts of one run mostly share their keys (the fields of an entity), so a key tuple
    found good is remembered and the keys of the next dict with equal ones are not looked at
    again; the values' types are checked at C speed, value by value only when one of them
    is a float (it must be finite) or of another type.
    """
    keys = tuple(obj)
    good = _GOOD_KEYS.get(keys)
    if good is None:
        good = all(type(key) is str and key[:1] != "$" for key in keys)
        if good:
            if len(_GOOD_KEYS) >= _GOOD_KEYS_MAX:
                _GOOD_KEYS.clear()
            _GOOD_KEYS[keys] = True
    if not good:
        return False
    if _SCALARS.issuperset(map(type, obj.values())):
        return True
    for value in obj.values():
        kind = type(value)
        if kind not in _SCALARS and (kind is not float or not math.isfinite(value)):
            return False
    return True


_GOOD_KEYS: dict[tuple[Any, ...], bool] = {}
"""Key tuples of flat dicts seen (only text keys compare equal to text keys)."""

_GOOD_KEYS_MAX = 1024
"""Most key tuples remembered; the memory starts again when full."""


def _encode(obj: Any, canonical: bool = False) -> Any:
    kind = type(obj)
    if kind in _PLAIN:  # the common case first: most field values are text or numbers
        return obj
    if kind is dict:
        return _encode_map(obj, canonical)
    if kind is list or kind is tuple:
        return [_encode(item, canonical) for item in obj]
    # Subclasses and the rarer types; order matters: bool is an int, datetime is a date.
    if isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, float):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise ValueError(f"cannot encode non-finite float {obj!r}")
        return obj
    if isinstance(obj, Decimal):
        return {_DEC: _canonical_decimal(obj) if canonical else str(obj)}
    if isinstance(obj, datetime):
        if obj.tzinfo is None or obj.utcoffset() is None:
            raise ValueError(f"cannot encode naive datetime {obj.isoformat()}; give it a time zone")
        return {_DT: obj.astimezone(UTC).isoformat(timespec="microseconds")}
    if isinstance(obj, date):
        return {_DATE: obj.isoformat()}
    if isinstance(obj, bytes | bytearray | memoryview):
        return {_BYTES: base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, Mapping):
        return _encode_map(obj, canonical)
    if isinstance(obj, list | tuple):
        return [_encode(item, canonical) for item in obj]
    raise TypeError(f"cannot encode value of type {type(obj).__name__}: {obj!r:.80}")


def _encode_map(obj: Mapping[Any, Any], canonical: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    escape = False
    for key, value in obj.items():
        if type(key) is not str and not isinstance(key, str):
            raise TypeError(f"cannot encode dict key {key!r}: keys must be str")
        if key[:1] == "$":
            escape = True
        out[key] = value if type(value) in _PLAIN else _encode(value, canonical)
    return {_MAP: out} if escape else out


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
"""Writes what :func:`_encode` made of a value."""


def _tag(obj: Any) -> Any:
    """The tagged form of a scalar that JSON has no type for (the flat encoder's ``default``)."""
    kind = type(obj)
    if kind is Decimal:  # by far the most common one
        return {_DEC: str(obj)}
    if kind is date:  # the next most common; a datetime is no date here (its own type)
        return {_DATE: obj.isoformat()}
    return _encode(obj)


def _flat_encoder() -> Callable[[dict[Any, Any]], str]:
    """Writes a flat dict (see :func:`_flat`) in one pass; same text as ``_ENCODER``.

    ``JSONEncoder.encode`` builds CPython's C encoder anew on every call, a fifth of the
    time a small dict takes; it is built once here when the interpreter has it.
    """
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:
        return json.JSONEncoder(
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            check_circular=False,
            default=_tag,
        ).encode
    # markers, default, encoder, indent, key_separator, item_separator, sort_keys,
    # skipkeys, allow_nan: as JSONEncoder.iterencode passes them. No circular check: a flat
    # dict cannot hold itself.
    encode = c_make_encoder(
        None, _tag, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    return lambda obj: "".join(encode(obj, 0))


_flat_text = _flat_encoder()


def _canonical_decimal(value: Decimal) -> str:
    # normalize() would round to the context precision; strip trailing zeros by hand.
    if not value.is_finite():
        return str(value)
    if value.is_zero():
        return "0"
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite decimals have an int exponent
    text = "".join(map(str, digits))
    stripped = text.rstrip("0")
    exponent += len(text) - len(stripped)
    return f"{'-' if sign else ''}{stripped}E{exponent}"


def _decode(obj: Any) -> Any:
    if isinstance(obj, list):
        return [_decode(item) for item in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        ((tag, raw),) = obj.items()
        if tag in _TAGS:
            return _decode_tag(tag, raw)
    return {key: _decode(value) for key, value in obj.items()}


def _decode_tag(tag: str, raw: Any) -> Any:
    if tag == _MAP:
        if not isinstance(raw, dict):
            raise ValueError(f"malformed {_MAP} value {raw!r:.80}")
        return {key: _decode(value) for key, value in raw.items()}
    if not isinstance(raw, str):
        raise ValueError(f"malformed {tag} value {raw!r:.80}")
    try:
        if tag == _DEC:
            return Decimal(raw)
        if tag == _DATE:
            return date.fromisoformat(raw)
        if tag == _DT:
            parsed = datetime.fromisoformat(raw)
            if parsed.tzinfo is None:
                raise ValueError("naive instant")
            return parsed.astimezone(UTC)
        return base64.b64decode(raw.encode("ascii"), validate=True)
    except (ArithmeticError, ValueError) as exc:
        raise ValueError(f"malformed {tag} value {raw!r:.80}: {exc}") from exc


__all__ = ["dumps", "encode_once", "loads", "stable_hash"]
