"""Bulk API 2.0 ingest rows: CSV headers resolved once, each row turned into wire values.

CSV rules: an empty cell leaves the field alone (null on insert), ``#N/A`` sets it to null, and a
header ``Account.ERP_Id__c`` sets the ``AccountId`` lookup by the parent's external id.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tandem.sandbox.salesforce import derived
from tandem.sandbox.salesforce.errors import ApiError, RecordError
from tandem.sandbox.salesforce.ids import to_18
from tandem.sandbox.salesforce.records import RecordWriter
from tandem.sandbox.salesforce.results import BulkRowResult
from tandem.sandbox.salesforce.schema import FieldDef, ObjectDef, Schema
from tandem.sandbox.salesforce.store import Table
from tandem.sandbox.salesforce.values import from_csv

__all__ = ["BulkOperation", "RowReader", "apply_rows", "duplicate_error", "duplicate_keys"]

BulkOperation = Literal["insert", "update", "upsert", "delete", "hardDelete"]


@dataclass(frozen=True)
class _Cell:
    header: str
    field: FieldDef | None  # a field of the object
    relationship: str | None  # or a parent reference: relationship name ...
    parent_key: str | None  # ... and the parent's external-id field


def _invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidBatch", f"InvalidBatch : {message}")


class RowReader:
    """Resolves a job's CSV headers against an object and converts its rows.

    Args:
        schema: the org schema.
        obj: the job's object.
        headers: the CSV header names (case-insensitive).
        needed: a header that must be present (``Id`` for update/delete, the external-id
            field for upsert), or None.

    Raises:
        ApiError: 400 ``InvalidBatch`` when a header names no field or ``needed`` is missing;
            the Bulk job then fails as a whole.
    """

    def __init__(
        self, schema: Schema, obj: ObjectDef, headers: list[str], needed: str | None
    ) -> None:
        self.obj = obj
        self.cells: list[_Cell] = []
        for header in headers:
            if "." in header:
                rel_name, key = header.split(".", 1)
                ref = obj.relationship(rel_name)
                target = schema.objects.get(ref.reference_to[0]) if ref else None
                ext = target.field(key) if target else None
                if ref is None or ext is None or not (ext.external_id or ext.name == "Id"):
                    raise _invalid(f"Field name not found : {header}")
                self.cells.append(_Cell(header, None, str(ref.relationship_name), ext.name))
                continue
            f = obj.field(header)
            if f is None:
                raise _invalid(f"Field name not found : {header}")
            self.cells.append(_Cell(header, f, None, None))
        if needed and not any(
            c.field and c.field.name.lower() == needed.lower() for c in self.cells
        ):
            raise _invalid(f"Field {needed} is required in the CSV header")

    def values(self, row: dict[str, str], skip: str | None = None) -> dict[str, Any]:
        """Return the wire values of one CSV row (empty cells left out).

        Args:
            row: header -> cell text.
            skip: a field name to leave out (``Id`` on update, which is the key).

        Raises:
            RecordError: a cell is not a value of its field's type.
        """
        out: dict[str, Any] = {}
        for cell in self.cells:
            text = row.get(cell.header) or ""  # a short CSV line gives None for missing cells
            if text == "":
                continue
            f = cell.field
            if f is None:
                out[str(cell.relationship)] = {str(cell.parent_key): text}
            elif f.name != skip:
                out[f.name] = from_csv(f, text)
        return out

    def key(self, row: dict[str, str], name: str) -> str:
        """Return the cell of the column named ``name`` (case-insensitive), or ``""``."""
        for cell in self.cells:
            if cell.field is not None and cell.field.name.lower() == name.lower():
                return row.get(cell.header) or ""
        return ""


def duplicate_keys(keys: list[Any], normalise: Callable[[Any], Any]) -> set[Any]:
    """Return the normalised keys that occur more than once (upserts must not repeat a key)."""
    seen: set[Any] = set()
    repeated: set[Any] = set()
    for key in keys:
        if key is None or key == "":
            continue
        norm = normalise(key)
        if norm in seen:
            repeated.add(norm)
        seen.add(norm)
    return repeated


def duplicate_error(value: Any) -> RecordError:
    """The per-record error of an external id repeated within one upsert call."""
    return RecordError("DUPLICATE_VALUE", f"Duplicate external id specified: {value}", [])


def apply_rows(
    writer: RecordWriter,
    table: Table,
    operation: BulkOperation,
    ext: FieldDef | None,
    rows: list[dict[str, str]],
) -> list[BulkRowResult]:
    """Apply one Bulk job's rows in one transaction; one result per row, in order.

    The caller holds the org lock.

    Args:
        writer: the org's record writer.
        table: the job's object.
        operation: insert, update, upsert, delete or hardDelete.
        ext: the external-id field of an upsert.
        rows: header -> cell text.

    Raises:
        ApiError: 400 ``InvalidBatch`` when the header is unusable (the job fails whole).
    """
    if not rows:
        return []
    store = writer.store
    headers = list(rows[0])
    needed = ext.name if ext else (None if operation == "insert" else "Id")
    reader = RowReader(store.schema, table.obj, headers, needed)
    repeated: set[str] = set()
    if ext is not None:
        repeated = duplicate_keys([reader.key(r, ext.name) for r in rows], str.lower)

    def apply(row: dict[str, str]) -> tuple[str, bool]:
        if operation == "insert":
            return writer.insert(table, reader.values(row)), True
        if ext is not None:
            key = reader.key(row, ext.name)
            if not key:
                raise RecordError("MISSING_ARGUMENT", f"{ext.name} not specified", [])
            if key.lower() in repeated:
                raise duplicate_error(key)
            return writer.upsert(table, ext, key, reader.values(row))
        record_id = writer.check_id(table, reader.key(row, "Id"))
        if operation == "update":
            writer.update(table, record_id, reader.values(row, skip="Id"))
        elif operation == "delete":
            writer.delete(table, record_id)
        else:
            writer.purge(table, record_id, live_too=True)
        return record_id, False

    # A savepoint per row undoes a refused row's side effects; rows whose only write is their
    # own final INSERT/UPDATE need none (a failed statement leaves nothing behind), which
    # roughly doubles the speed of plain inserts and upserts.
    guarded = operation in ("delete", "hardDelete") or derived.has_rules(table.obj.name)
    savepoint = store.savepoint if guarded else contextlib.nullcontext
    results: list[BulkRowResult] = []
    store.tick()
    with store.transaction():
        for row in rows:
            try:
                with savepoint():
                    record_id, created = apply(row)
                results.append(BulkRowResult(record_id, created, None))
            except (RecordError, sqlite3.IntegrityError) as exc:
                error = (
                    exc
                    if isinstance(exc, RecordError)
                    else RecordError("DUPLICATE_VALUE", f"duplicate value found: {exc}")
                )
                known = to_18(reader.key(row, "Id")) if operation != "insert" else None
                results.append(BulkRowResult(known, False, error.to_bulk_error()))
    return results
