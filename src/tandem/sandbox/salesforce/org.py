"""The sandbox org: records, validation and SOQL behind a thread-safe Python API.

The HTTP layer (routes, Bulk job manager, limits, faults) calls only this module. Values in and
out are Salesforce wire JSON: datetimes ``2024-05-01T10:00:00.000+0000`` (``Z`` and ``+00:00``
accepted on input), dates ``YYYY-MM-DD``, numbers, booleans and ``null``; every returned record
carries ``attributes``. One SQLite connection serves all threads behind a lock; every call is one
transaction, and ``allOrNone`` failures roll the whole call back.
"""

from __future__ import annotations

import copy
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tandem.sandbox.salesforce import replication
from tandem.sandbox.salesforce.calls import (
    MAX_COLLECTION,
    check_batch,
    run_batch,
    run_single,
    wire_record,
)
from tandem.sandbox.salesforce.conditional import require_unmodified
from tandem.sandbox.salesforce.describe import describe_global, describe_object
from tandem.sandbox.salesforce.errors import ApiError, MultipleMatches, RecordError, no_such_column
from tandem.sandbox.salesforce.ids import to_18
from tandem.sandbox.salesforce.ingest import (
    BulkOperation,
    apply_rows,
    duplicate_error,
    duplicate_keys,
)
from tandem.sandbox.salesforce.merge import MergeResult, merge_records
from tandem.sandbox.salesforce.querying import MAX_BATCH, QueryRunner
from tandem.sandbox.salesforce.records import NOT_FOUND_MESSAGE, RecordWriter
from tandem.sandbox.salesforce.results import BulkRowResult, QueryPage, SaveResult
from tandem.sandbox.salesforce.schema import FieldDef, Schema
from tandem.sandbox.salesforce.store import Store, Table

__all__ = [
    "MAX_COLLECTION",
    "BulkOperation",
    "BulkRowResult",
    "MergeResult",
    "Org",
    "QueryPage",
    "SaveResult",
]

MAX_RETRIEVE = 2000


def _id_of(raw: Any) -> str | None:
    """The 18-character id a failed result of an id-only call names (None: not an id)."""
    return to_18(raw) if isinstance(raw, str) else None


class Org:
    """A local Salesforce org stored in one SQLite file; safe to share between threads.

    Args:
        db_path: the SQLite file (created when missing; records survive a restart).
        schema: the objects and fields of the org.
        clock: returns the current time (UTC, tz-aware); defaults to the system clock.

    Attributes:
        schema: the org schema.
        org_id: the ``00D`` organisation id (stable for the file).
        integration_user_id: the ``005`` id of the user every API call acts as.
    """

    schema: Schema

    def __init__(
        self, db_path: Path, schema: Schema, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.schema = schema
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._store = Store(db_path, schema, self._clock)
        self._store.seed()
        self._writer = RecordWriter(self._store)
        self._queries = QueryRunner(self._store, self._lock, self._clock)
        self.org_id = self._store.org_id
        self.integration_user_id = self._store.user_id
        self._described: dict[tuple[str, str], dict[str, Any]] = {}

    def now(self) -> datetime:
        """The org's clock (what its ``SystemModstamp``s and its ``Date`` headers show)."""
        return self._clock()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._store.close()

    # ---- helpers -----------------------------------------------------------------------------

    def _table(self, sobject: str) -> Table:
        obj = self.schema.get(sobject)
        if obj is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return self._store.tables[obj.name]

    def _ext_field(self, table: Table, ext_field: str) -> FieldDef:
        f = table.obj.field(ext_field)
        if f is None or not (f.external_id or f.name == "Id"):
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {ext_field}",
            )
        return f

    def _record_id(self, table: Table, record_id: str) -> str:
        canonical = to_18(record_id)
        if canonical is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {record_id}",
            )
        if canonical[:3] != table.obj.key_prefix:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return canonical

    def _fields(self, table: Table, fields: list[str] | None) -> list[FieldDef]:
        if fields is None:
            return table.fields
        out = []
        for name in fields:
            f = table.obj.field(name.strip())
            if f is None:
                raise no_such_column(name, table.obj.name)
            out.append(f)
        return out

    # ---- describe ----------------------------------------------------------------------------

    def describe_global(self, api_version: str) -> dict[str, Any]:
        """Return ``GET /sobjects/``: ``{"encoding", "maxBatchSize", "sobjects": [...]}``."""
        key = ("", api_version)
        if key not in self._described:
            self._described[key] = describe_global(self.schema, api_version)
        return copy.deepcopy(self._described[key])

    def describe(self, sobject: str, api_version: str) -> dict[str, Any]:
        """Return ``GET /sobjects/{sobject}/describe``.

        Raises:
            ApiError: 404 ``NOT_FOUND`` for an unknown object.
        """
        obj = self._table(sobject).obj
        key = (obj.name, api_version)
        if key not in self._described:
            self._described[key] = describe_object(self.schema, obj, api_version)
        return copy.deepcopy(self._described[key])

    # ---- single records ----------------------------------------------------------------------

    def create(self, sobject: str, values: dict[str, Any]) -> str:
        """Insert one record and return its 18-character id.

        Raises:
            ApiError: 404 ``NOT_FOUND`` for an unknown object; 400 with the validation code
                (``REQUIRED_FIELD_MISSING``, ``INVALID_FIELD``, ``DUPLICATE_VALUE`` ...).
        """
        table = self._table(sobject)
        if not table.obj.createable:
            raise ApiError(
                400,
                "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                f"entity type {table.obj.name} does not support insert",
            )
        return str(run_single(self._lock, self._store, lambda: self._writer.insert(table, values)))

    def retrieve(
        self, sobject: str, record_id: str, fields: list[str] | None, api_version: str
    ) -> dict[str, Any]:
        """Return one record (all fields when ``fields`` is None).

        Raises:
            ApiError: 404 ``NOT_FOUND`` (unknown object, malformed or unknown id), 404
                ``ENTITY_IS_DELETED``, 400 ``INVALID_FIELD``.
        """
        table = self._table(sobject)
        canonical = self._record_id(table, record_id)
        wanted = self._fields(table, fields)
        with self._lock:
            row = self._store.fetch(table, canonical)
        if row is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        if row["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return wire_record(table, row, wanted, api_version)

    def update(self, sobject: str, record_id: str, values: dict[str, Any]) -> None:
        """Update one record.

        Raises:
            ApiError: 404 ``NOT_FOUND`` / ``ENTITY_IS_DELETED``, or a 400 validation error.
        """
        table = self._table(sobject)
        canonical = self._record_id(table, record_id)
        run_single(self._lock, self._store, lambda: self._writer.update(table, canonical, values))

    def update_unmodified_since(
        self, sobject: str, record_id: str, values: dict[str, Any], since: datetime
    ) -> None:
        """Update one record only if it was not modified after ``since`` (``If-Unmodified-
        Since``), checked in the update's own transaction.

        Raises:
            PreconditionFailed: it was (nothing is changed).
            ApiError: as :meth:`update`.
        """
        table = self._table(sobject)
        canonical = self._record_id(table, record_id)

        def action() -> None:
            require_unmodified(self._writer.live_row(table, canonical), since)
            self._writer.update(table, canonical, values)

        run_single(self._lock, self._store, action)

    def delete(self, sobject: str, record_id: str) -> None:
        """Soft-delete one record (and its cascade children) into the recycle bin.

        Raises:
            ApiError: 404 ``ENTITY_IS_DELETED`` when already deleted, 404 ``NOT_FOUND``.
        """
        table = self._table(sobject)
        canonical = self._record_id(table, record_id)
        run_single(self._lock, self._store, lambda: self._writer.delete(table, canonical))

    def upsert(
        self,
        sobject: str,
        ext_field: str,
        ext_value: str,
        values: dict[str, Any],
        *,
        update_only: bool = False,
    ) -> tuple[str, bool]:
        """Insert or update by external id; returns ``(id, created)``.

        Args:
            sobject: the object.
            ext_field: the external-id field (or ``Id``).
            ext_value: the value to match (case-insensitive unless the field is case-sensitive).
            values: the wire JSON fields to set.
            update_only: refuse to insert (``?updateOnly=true``, v61+): no match is 404.

        Raises:
            MultipleMatches: the value matches several records (300).
            ApiError: 404 ``NOT_FOUND`` for an unknown object or external-id field, or for no
                match with ``update_only``; 400 validation errors.
        """
        table = self._table(sobject)
        ext = self._ext_field(table, ext_field)
        with self._lock:
            matches = self._writer.find_by_external_id(table, ext, ext_value)
        if len(matches) > 1:
            raise MultipleMatches([self._url(table, m) for m in matches])
        if update_only and not matches:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        result: tuple[str, bool] = run_single(
            self._lock, self._store, lambda: self._writer.upsert(table, ext, ext_value, values)
        )
        return result

    @staticmethod
    def _url(table: Table, record_id: str, api_version: str = "59.0") -> str:
        return f"/services/data/v{api_version}/sobjects/{table.obj.name}/{record_id}"

    def retrieve_by_external_id(
        self,
        sobject: str,
        ext_field: str,
        ext_value: str,
        fields: list[str] | None,
        api_version: str,
    ) -> dict[str, Any]:
        """Return the record whose external id equals ``ext_value``.

        Raises:
            MultipleMatches: several records match (300).
            ApiError: 404 ``NOT_FOUND``.
        """
        table = self._table(sobject)
        ext = self._ext_field(table, ext_field)
        wanted = self._fields(table, fields)
        with self._lock:
            matches = self._writer.find_by_external_id(table, ext, ext_value)
            if len(matches) > 1:
                raise MultipleMatches([self._url(table, m, api_version) for m in matches])
            row = self._store.fetch(table, matches[0]) if matches else None
        if row is None:
            raise ApiError(404, "NOT_FOUND", NOT_FOUND_MESSAGE)
        return wire_record(table, row, wanted, api_version)

    # ---- collections -------------------------------------------------------------------------

    def _typed_table(self, record: dict[str, Any]) -> Table:
        attrs = record.get("attributes")
        name = attrs.get("type") if isinstance(attrs, dict) else None
        obj = self.schema.get(str(name)) if name else None
        if obj is None:
            raise RecordError(
                "INVALID_TYPE",
                f"sObject type '{name}' is not supported" if name else "No type specified",
            )
        return self._store.tables[obj.name]

    def create_many(self, records: list[dict[str, Any]], all_or_none: bool) -> list[SaveResult]:
        """sObject Collections create: records carry ``attributes.type`` (types may be mixed).

        Raises:
            ApiError: 400 ``EXCEEDED_ID_LIMIT`` for more than 200 records.
        """
        check_batch(len(records))

        def action(record: dict[str, Any]) -> tuple[str, None]:
            return self._writer.insert(self._typed_table(record), record), None

        return run_batch(self._lock, self._store, records, action, all_or_none)

    def update_many(self, records: list[dict[str, Any]], all_or_none: bool) -> list[SaveResult]:
        """sObject Collections update: records carry ``Id`` and ``attributes.type``.

        Raises:
            ApiError: 400 ``EXCEEDED_ID_LIMIT`` for more than 200 records.
        """
        check_batch(len(records))

        def action(record: dict[str, Any]) -> tuple[str, None]:
            raw_id = record.get("Id") or record.get("id")
            if not raw_id:
                raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
            attrs = record.get("attributes")
            if isinstance(attrs, dict) and attrs.get("type"):
                table = self._typed_table(record)
                record_id = self._writer.check_id(table, raw_id)
            else:
                table, record_id = self._writer.table_of_id(raw_id)
            self._writer.update(table, record_id, record)
            return record_id, None

        def id_of(record: dict[str, Any]) -> str | None:
            raw = record.get("Id")
            return to_18(raw) if isinstance(raw, str) else None

        return run_batch(self._lock, self._store, records, action, all_or_none, id_of)

    def upsert_many(
        self, sobject: str, ext_field: str, records: list[dict[str, Any]], all_or_none: bool
    ) -> list[SaveResult]:
        """sObject Collections upsert by external id; results carry ``created``.

        Raises:
            ApiError: 404 ``NOT_FOUND`` (object or external-id field), 400 ``EXCEEDED_ID_LIMIT``.
        """
        check_batch(len(records))
        table = self._table(sobject)
        ext = self._ext_field(table, ext_field)
        keys = [self._key_of(record, ext) for record in records]
        repeated = duplicate_keys(keys, lambda k: str(k).lower())

        def action(item: tuple[dict[str, Any], Any]) -> tuple[str, bool]:
            record, key = item
            if key is None or key == "":
                if ext.name != "Id":
                    raise RecordError("MISSING_ARGUMENT", f"{ext.name} not specified", [])
            elif str(key).lower() in repeated:
                raise duplicate_error(key)
            return self._writer.upsert(table, ext, key, record)

        return run_batch(
            self._lock, self._store, list(zip(records, keys, strict=True)), action, all_or_none
        )

    @staticmethod
    def _key_of(record: dict[str, Any], ext: FieldDef) -> Any:
        for key, value in record.items():
            if key.lower() == ext.name.lower():
                return value
        return None

    def retrieve_many(
        self, sobject: str, ids: list[str], fields: list[str], api_version: str
    ) -> list[dict[str, Any] | None]:
        """sObject Collections retrieve: one record or None per id, in request order.

        Raises:
            ApiError: 404 ``NOT_FOUND`` (object), 400 ``INVALID_FIELD`` or
                ``EXCEEDED_ID_LIMIT`` (more than 2,000 ids).
        """
        check_batch(len(ids), MAX_RETRIEVE)
        table = self._table(sobject)
        wanted = self._fields(table, fields)
        out: list[dict[str, Any] | None] = []
        with self._lock:
            for raw in ids:
                canonical = to_18(raw.strip()) if isinstance(raw, str) else None
                row = None
                if canonical and canonical[:3] == table.obj.key_prefix:
                    row = self._store.fetch(table, canonical)
                if row is None or row["IsDeleted"]:
                    out.append(None)
                else:
                    out.append(wire_record(table, row, wanted, api_version))
        return out

    def delete_many(self, ids: list[str], all_or_none: bool) -> list[SaveResult]:
        """sObject Collections delete (soft delete into the recycle bin).

        Raises:
            ApiError: 400 ``EXCEEDED_ID_LIMIT`` for more than 200 ids.
        """
        check_batch(len(ids))

        def action(raw_id: str) -> tuple[str, None]:
            table, record_id = self._writer.table_of_id(raw_id)
            self._writer.delete(table, record_id)
            return record_id, None

        return run_batch(
            self._lock,
            self._store,
            ids,
            action,
            all_or_none,
            _id_of,
        )

    def undelete(self, ids: list[str]) -> list[SaveResult]:
        """Restore records (and what their delete cascaded to) from the recycle bin."""

        def action(raw_id: str) -> tuple[str, None]:
            table, record_id = self._writer.table_of_id(raw_id)
            self._writer.undelete(table, record_id)
            return record_id, None

        return run_batch(
            self._lock,
            self._store,
            ids,
            action,
            False,
            _id_of,
        )

    def empty_recycle_bin(self, ids: list[str]) -> list[SaveResult]:
        """Remove deleted records for good (a tombstone stays for ``get_deleted``)."""

        def action(raw_id: str) -> tuple[str, None]:
            table, record_id = self._writer.table_of_id(raw_id)
            self._writer.purge(table, record_id, live_too=False)
            return record_id, None

        return run_batch(
            self._lock,
            self._store,
            ids,
            action,
            False,
            _id_of,
        )

    def merge(
        self,
        sobject: str,
        master_id: str,
        loser_ids: list[str],
        values: dict[str, Any] | None = None,
    ) -> MergeResult:
        """Merge up to two records into a master, as one SOAP ``MergeRequest``.

        The master keeps its Id and takes ``values``; the losers' related records are
        re-parented to it; the losers go to the recycle bin with ``MasterRecordId`` set.
        One transaction: a refused request changes nothing and says why in its result.

        Raises:
            ApiError: 404 ``NOT_FOUND`` for an unknown object.
        """
        table = self._table(sobject)
        with self._lock:
            store = self._store
            store.tick()
            try:
                with store.transaction():
                    master, merged, related = merge_records(
                        self._writer, table, master_id, loser_ids, dict(values or {})
                    )
            except RecordError as exc:
                return MergeResult(None, errors=[(exc.code, exc.message)])
            except sqlite3.IntegrityError as exc:
                return MergeResult(None, errors=[("DUPLICATE_VALUE", f"duplicate value: {exc}")])
        return MergeResult(master, merged, related)

    # ---- SOQL --------------------------------------------------------------------------------

    def query(
        self,
        soql: str,
        *,
        include_deleted: bool,
        batch_size: int = MAX_BATCH,
        api_version: str = "59.0",
    ) -> QueryPage:
        """Run SOQL (``queryAll`` when ``include_deleted``) and return the first page.

        Args:
            soql: the query.
            include_deleted: keep recycle-bin rows.
            batch_size: rows per page, clamped to 200..2000 as Salesforce does.
            api_version: e.g. ``59.0``, for the record URLs.

        Raises:
            ApiError: 400 ``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE`` ...
        """
        return self._queries.first_page(soql, include_deleted, batch_size, api_version)

    def query_more(self, locator: str, api_version: str) -> QueryPage:
        """Return the page a locator (``01g...-2000``) points at.

        Raises:
            ApiError: 400 ``INVALID_QUERY_LOCATOR`` for an unknown, expired or bad locator.
        """
        return self._queries.next_page(locator, api_version)

    def query_rows(
        self, soql: str, *, include_deleted: bool
    ) -> tuple[list[str], Iterator[list[str]]]:
        """Run SOQL for a Bulk query job.

        Returns:
            The column names in query order (``Account.Name`` for parent fields) and an
            iterator of CSV-ready rows (``""`` for null, ``true``/``false``, wire datetimes).
            The rows are a snapshot taken by this call.

        Raises:
            ApiError: 400 as for :meth:`query`; ``COUNT()`` is refused (Bulk has no count).
        """
        return self._queries.csv_rows(soql, include_deleted)

    # ---- replication -------------------------------------------------------------------------

    def get_updated(self, sobject: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Return ``{"ids": [...], "latestDateCovered": "..."}`` for ``[start, end)``.

        Raises:
            ApiError: 404 ``NOT_FOUND`` (object), 400 ``INVALID_REPLICATION_DATE``.
        """
        table = self._table(sobject)
        with self._lock:
            return replication.get_updated(self._store, table, start, end)

    def get_deleted(self, sobject: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Return ``{"deletedRecords", "earliestDateAvailable", "latestDateCovered"}``.

        Raises:
            ApiError: 404 ``NOT_FOUND`` (object), 400 ``INVALID_REPLICATION_DATE``.
        """
        table = self._table(sobject)
        with self._lock:
            return replication.get_deleted(self._store, table, start, end)

    # ---- Bulk API 2.0 ------------------------------------------------------------------------

    def bulk_ingest(
        self,
        sobject: str,
        operation: BulkOperation,
        ext_field: str | None,
        rows: list[dict[str, str]],
    ) -> list[BulkRowResult]:
        """Apply Bulk API 2.0 CSV rows, in one transaction; one result per row, in order.

        Args:
            sobject: the job's object.
            operation: insert, update, upsert, delete or hardDelete.
            ext_field: the external-id field of an upsert.
            rows: header -> cell text (``""`` leaves a field alone, ``#N/A`` nulls it).

        Raises:
            ApiError: 404 ``NOT_FOUND`` (object / external-id field) or 400 ``InvalidBatch``
                (a header names no field, a needed column is missing); the job fails whole.
        """
        table = self._table(sobject)
        ext = self._ext_field(table, ext_field or "") if operation == "upsert" else None
        with self._lock:
            return apply_rows(self._writer, table, operation, ext, rows)
