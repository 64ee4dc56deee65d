"""Errors the sandbox Salesforce raises, shaped like the wire errors of the real API.

The HTTP layer turns these into responses; the data core raises them::

    Exception
    +- ApiError(status, error_code, message, fields)   one top-level REST error (JSON array body)
       +- MultipleMatches                               300: an external ID matched several records
    +- RecordError(code, message, fields)               one record of a batch failed (internal)

Per-record failures inside collections and Bulk jobs are raised internally as ``RecordError`` and
come back as ``SaveResult.errors`` / ``BulkRowResult.error`` (see
:mod:`tandem.sandbox.salesforce.org`); single-record REST calls turn them into ``ApiError``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "MultipleMatches", "RecordError", "no_such_column"]


class ApiError(Exception):
    """A Salesforce REST error: an HTTP status plus one ``{message, errorCode, fields}`` item.

    Attributes:
        status: the HTTP status the server answers with (400, 404, ...).
        error_code: the Salesforce code, e.g. ``INVALID_FIELD`` or ``MALFORMED_QUERY``.
        message: the human text, worded like Salesforce's.
        fields: the fields concerned, or ``None`` when the error names none.
    """

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields

    def to_json(self) -> list[dict[str, Any]]:
        """Return the error as the JSON array body Salesforce sends.

        Returns:
            ``[{"message": ..., "errorCode": ..., "fields": [...]}]``; ``fields`` only when set.
        """
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = list(self.fields)
        return [item]


class MultipleMatches(ApiError):
    """An external ID value matched more than one record (HTTP 300).

    The HTTP layer answers 300 with ``matches`` as the JSON body (a list of URL strings),
    which is what Salesforce sends.

    Attributes:
        matches: the record URLs of every match,
            e.g. ``/services/data/v59.0/sobjects/Account/001...``.
    """

    def __init__(self, matches: list[str], message: str | None = None) -> None:
        super().__init__(
            300,
            "MULTIPLE_CHOICES",
            message or f"The external ID matched {len(matches)} records",
        )
        self.matches = matches


class RecordError(Exception):
    """One record failed (a per-record error of a collection or Bulk job); never reaches HTTP.

    Attributes:
        code: the ``statusCode``, e.g. ``REQUIRED_FIELD_MISSING``.
        message: Salesforce-style text naming the field and value.
        fields: the fields concerned (may be empty).
    """

    def __init__(self, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields or []

    def to_save_error(self) -> dict[str, Any]:
        """Return the ``{"statusCode", "message", "fields"}`` item of a SaveResult."""
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def to_bulk_error(self) -> str:
        """Return the ``sf__Error`` text, e.g. ``REQUIRED_FIELD_MISSING:...:Name --``."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"

    def to_api_error(self, status: int = 400) -> ApiError:
        """Return the same failure as a top-level REST error."""
        return ApiError(status, self.code, self.message, list(self.fields))


def no_such_column(field: str, sobject: str) -> ApiError:
    """Return the 400 ``INVALID_FIELD`` Salesforce gives for an unknown field in a read or query.

    Args:
        field: the name as the caller wrote it.
        sobject: the object name.
    """
    return ApiError(
        400,
        "INVALID_FIELD",
        f"No such column '{field}' on entity '{sobject}'. If you are attempting to use a custom"
        " field, be sure to append the '__c' after the custom field name. Please reference your"
        " WSDL or the describe call for the appropriate names.",
    )
