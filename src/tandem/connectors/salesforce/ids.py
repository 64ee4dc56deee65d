"""Salesforce record Ids: the case-sensitive 15-character form and the case-safe 18-character
one that the API answers with (:func:`id18`)."""

from __future__ import annotations

import re

__all__ = ["id18"]

_ID15 = re.compile(r"[0-9A-Za-z]{15}")
_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(value: str) -> str:
    """The 18-character (case-safe) form of a Salesforce Id; anything but 15 letters and
    digits as it is.

    Salesforce answers with 18-character Ids, and Tandem's links hold those; older
    integrations, reports and the UI's URLs give the case-sensitive 15-character form. The
    suffix has one character per 5-character chunk: a bit per upper-case letter (the chunk's
    first character the lowest bit), the number indexing ``A-Z0-5``.
    """
    if len(value) != 15 or not _ID15.fullmatch(value):
        return value
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(value[start : start + 5]) if char.isupper())
        suffix += _ID_SUFFIX[bits]
    return value + suffix
