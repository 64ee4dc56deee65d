"""Result records of the org API: query pages, collection save results, Bulk row results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ROLLED_BACK", "BulkRowResult", "QueryPage", "SaveResult"]

ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using"
    " AllOrNone header",
    "fields": [],
}


@dataclass
class QueryPage:
    """One page of a SOQL result.

    Attributes:
        total_size: rows matching the whole query (``totalSize``).
        done: True on the last page.
        records: the records of this page (with ``attributes``).
        locator: the query locator (``01g...-2000``) of the next page, or None when done.
    """

    total_size: int
    done: bool
    records: list[dict[str, Any]]
    locator: str | None


@dataclass
class SaveResult:
    """The outcome of one record in a collection call (create/update/upsert/delete/undelete).

    Attributes:
        id: the record id, or None when it could not be determined.
        success: whether the record was saved.
        errors: ``[{"statusCode", "message", "fields"}]``; empty on success.
        created: for upserts, whether a record was inserted; None otherwise.
    """

    id: str | None
    success: bool
    errors: list[dict[str, Any]]
    created: bool | None = None

    def to_json(self, with_created: bool) -> dict[str, Any]:
        """Return the SaveResult/UpsertResult JSON.

        Args:
            with_created: include the ``created`` key (upsert results).

        Returns:
            ``{"id", "success", "errors"[, "created"]}``.
        """
        out: dict[str, Any] = {"id": self.id, "success": self.success, "errors": self.errors}
        if with_created:
            out["created"] = bool(self.created)
        return out


@dataclass
class BulkRowResult:
    """The outcome of one Bulk API 2.0 ingest row.

    Attributes:
        id: ``sf__Id`` (None for a failed insert).
        created: ``sf__Created``.
        error: ``sf__Error`` such as
            ``REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --``; None on success.
    """

    id: str | None
    created: bool
    error: str | None
