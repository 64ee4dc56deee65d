"""Conditional request headers on sObject Rows: ``If-Modified-Since``, ``If-Unmodified-Since``.

Salesforce documents them as weak validators compared with the record's last modified date
(``LastModifiedDate``), following HTTP 1.1 with its own exceptions: an invalid
``If-Unmodified-Since`` on a PATCH or POST is a 400, and DELETE ignores them. Their value is
an HTTP-date, whole seconds (``Mon, 30 Nov 2020 08:34:54 GMT``; Salesforce's example writes
a zone name, ``MST``, which is read too).

A date of whole seconds cannot say "modified at 10:00:05.300": as HTTP 1.1 (RFC 7232)
compares a ``Last-Modified`` of whole seconds, the record's date is taken to the second
below before it is compared. So a record changed at 10:00:05.300 counts as not modified
since ``10:00:05`` and as modified since ``10:00:04``.

* ``If-Unmodified-Since`` on GET or PATCH: ``412 Precondition Failed`` (empty body, nothing
  changed) when the record was modified after the date.
* ``If-Modified-Since`` on GET: ``304 Not Modified`` (empty body) when it was not.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from tandem.sandbox.salesforce.errors import ApiError
from tandem.sandbox.salesforce.values import parse_datetime

__all__ = [
    "IF_MODIFIED_SINCE",
    "IF_UNMODIFIED_SINCE",
    "PreconditionFailed",
    "http_date",
    "modified_after",
    "require_unmodified",
    "unmodified_since",
]

IF_MODIFIED_SINCE = "if-modified-since"
IF_UNMODIFIED_SINCE = "if-unmodified-since"


class PreconditionFailed(Exception):
    """The record was modified after the ``If-Unmodified-Since`` date: answer 412."""


def http_date(raw: str | None) -> datetime | None:
    """An HTTP-date header value as an aware UTC instant; ``None`` when absent or invalid."""
    if raw is None or not raw.strip():
        return None
    try:
        moment = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def unmodified_since(headers: Mapping[str, str], *, strict: bool) -> datetime | None:
    """The ``If-Unmodified-Since`` date of a request, if any.

    Args:
        headers: the request headers (lower-case names).
        strict: an invalid value is a 400 (PATCH, POST); else it is ignored (GET).

    Raises:
        ApiError: 400 for an invalid value when ``strict``.
    """
    raw = headers.get(IF_UNMODIFIED_SINCE)
    when = http_date(raw)
    if when is None and raw is not None and strict:
        raise ApiError(
            400,
            "INVALID_HEADER_VALUE",
            f"If-Unmodified-Since: {raw!r} is not a date of the form EEE, dd MMM yyyy HH:mm:ss z",
        )
    return when


def modified_after(row: Mapping[str, Any], since: datetime) -> bool:
    """Whether a stored record was last modified after ``since``, compared to the second."""
    stored = row.get("LastModifiedDate")
    last = parse_datetime(str(stored)) if stored is not None else None
    if last is None:
        return True  # no date to compare: the condition cannot be shown to hold
    return last.replace(microsecond=0) > since


def require_unmodified(row: Mapping[str, Any], since: datetime) -> None:
    """Raise :class:`PreconditionFailed` when the record was modified after ``since``."""
    if modified_after(row, since):
        raise PreconditionFailed(f"modified after {since.isoformat()}")
