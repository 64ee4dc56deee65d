"""Salesforce record ids: key prefixes, the case-safe 18-character form, and id generation.

A 15-character id is case-sensitive. The 18-character form appends three characters that
encode, for each 5-character chunk, which letters are upper case; that makes the id safe in
case-insensitive places. Both forms are accepted on input; the sandbox always answers with 18.
"""

from __future__ import annotations

import re

__all__ = [
    "BASE62",
    "IdGenerator",
    "checksum",
    "is_valid_id",
    "to_18",
]

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?")
# Characters 4-5 of a real id name the instance ("pod"); 6 is reserved. Fixed here.
_POD = "5g0"
_COUNTER_WIDTH = 9


def checksum(id15: str) -> str:
    """Return the 3-character case-safe suffix of a 15-character id.

    Args:
        id15: a 15-character id.

    Returns:
        The suffix, one character of ``A-Z0-5`` per 5-character chunk.
    """
    suffix = []
    for start in (0, 5, 10):
        bits = 0
        for pos, char in enumerate(id15[start : start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        suffix.append(_SUFFIX_CHARS[bits])
    return "".join(suffix)


def is_valid_id(value: str) -> bool:
    """Whether ``value`` is a well-formed 15- or 18-character id with a matching suffix."""
    if not _ID_RE.fullmatch(value):
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:].upper()


def to_18(value: str) -> str | None:
    """Return the 18-character form of an id, or None when ``value`` is not a valid id.

    Args:
        value: a 15- or 18-character id.

    Returns:
        The canonical 18-character id (suffix recomputed), or None.
    """
    if not is_valid_id(value):
        return None
    id15 = value[:15]
    return id15 + checksum(id15)


def _base62(value: int, width: int) -> str:
    digits = []
    number = value
    while number:
        number, rest = divmod(number, 62)
        digits.append(BASE62[rest])
    text = "".join(reversed(digits))
    if len(text) > width:
        raise OverflowError(f"id counter {value} does not fit in {width} base-62 digits")
    return text.rjust(width, "0")


def _from_base62(text: str) -> int:
    number = 0
    for char in text:
        number = number * 62 + BASE62.index(char)
    return number


class IdGenerator:
    """Makes increasing 18-character ids for one key prefix (not thread-safe; callers lock).

    Base-62 digits in ``0-9A-Za-z`` order sort like their numbers in a binary string compare,
    so ids of one object sort by creation.

    Args:
        prefix: the 3-character key prefix, e.g. ``001``.
        last_id: the highest id already issued for this prefix, if any.
    """

    def __init__(self, prefix: str, last_id: str | None = None) -> None:
        if len(prefix) != 3:
            raise ValueError(f"key prefix must have 3 characters: {prefix!r}")
        self.prefix = prefix
        self._next = 1
        if last_id:
            self._next = _from_base62(last_id[6:15]) + 1

    def next_id(self) -> str:
        """Return a fresh 18-character id."""
        id15 = self.prefix + _POD + _base62(self._next, _COUNTER_WIDTH)
        self._next += 1
        return id15 + checksum(id15)
