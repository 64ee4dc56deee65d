"""How Salesforce failures resolve: its error bodies parsed, its codes mapped to actions, as data.

Top-level REST errors are a JSON array ``[{"message", "errorCode", "fields"}]``; per-record
errors inside sObject Collections results use ``statusCode`` instead. Both are resolved with the
same table, :data:`SALESFORCE_RULES`, placed in front of the transport's vendor-neutral rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from tandem.connectors.http import DEFAULT_RULES, ErrorDetail, ResolutionRule, resolve

__all__ = [
    "REJECT_CODES",
    "RETRY_CODES",
    "SALESFORCE_RULES",
    "parse_error",
    "record_action",
]

RETRY_CODES = (
    "UNABLE_TO_LOCK_ROW",
    "SERVER_UNAVAILABLE",
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "QUERY_TIMEOUT",
)
"""Codes that say nothing is wrong with the data: the same request may succeed later."""

REJECT_CODES = (
    "DUPLICATE_VALUE",
    "DUPLICATES_DETECTED",
    "REQUIRED_FIELD_MISSING",
    "STRING_TOO_LONG",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    "INVALID_EMAIL_ADDRESS",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    "FIELD_INTEGRITY_EXCEPTION",
    "INVALID_CROSS_REFERENCE_KEY",
    "INVALID_TYPE_ON_FIELD_IN_RECORD",
    "NUMBER_OUTSIDE_VALID_RANGE",
    "MALFORMED_ID",
    "INVALID_ID_FIELD",
    "ENTITY_IS_DELETED",
    "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
    "INVALID_FIELD_FOR_INSERT_UPDATE",
)
"""Codes that blame one record's data: dead-letter that record, go on with the rest."""

SALESFORCE_RULES: tuple[ResolutionRule, ...] = (
    ResolutionRule("refresh_auth", "session expired", status=401, code="INVALID_SESSION_ID"),
    ResolutionRule(
        "retry",
        "concurrent request limit reached",
        code="REQUEST_LIMIT_EXCEEDED",
        message_contains="concurrent",
    ),
    ResolutionRule("fatal", "daily API request limit exceeded", code="REQUEST_LIMIT_EXCEEDED"),
    *(ResolutionRule("retry", "transient Salesforce failure", code=c) for c in RETRY_CODES),
    *(ResolutionRule("reject", "record refused", code=c) for c in REJECT_CODES),
    ResolutionRule("fatal", "bad request (check the mapping and flow config)", status=400),
    *DEFAULT_RULES,
)
"""Status / error code -> action; first match wins."""


def parse_error(response: httpx.Response) -> ErrorDetail:
    """The first error of a Salesforce error body (JSON array, or an object for OAuth/Bulk)."""
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return ErrorDetail(None, response.text[:500])
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        return detail_from_item(body[0])
    if isinstance(body, Mapping):
        if "error" in body:
            return ErrorDetail(str(body["error"]), str(body.get("error_description") or ""))
        return detail_from_item(body)
    return ErrorDetail(None, response.text[:500])


def detail_from_item(item: Mapping[str, Any]) -> ErrorDetail:
    """An :class:`ErrorDetail` from one error object (``errorCode`` or ``statusCode``)."""
    code = item.get("errorCode") or item.get("statusCode")
    fields = item.get("fields") or ()
    return ErrorDetail(
        str(code) if code else None,
        str(item.get("message") or ""),
        tuple(str(f) for f in fields) if isinstance(fields, Sequence) else (),
    )


def record_action(code: str | None, message: str = "") -> str:
    """``retry`` or ``reject`` for one per-record error in a collection or Bulk result."""
    resolution = resolve(SALESFORCE_RULES, 400, ErrorDetail(code, message))
    return "retry" if resolution.action == "retry" else "reject"
