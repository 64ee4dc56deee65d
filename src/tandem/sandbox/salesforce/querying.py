"""Running SOQL against the store: first pages, query locators and Bulk query rows.

The first call runs the whole query and keeps the rows in memory under a locator
(``01g...``), so later pages come from the same snapshot however the data changes meanwhile.
Locators expire after 15 minutes without use, as in Salesforce; at most ``MAX_LOCATORS`` live.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tandem.sandbox.salesforce.errors import ApiError
from tandem.sandbox.salesforce.ids import IdGenerator
from tandem.sandbox.salesforce.results import QueryPage
from tandem.sandbox.salesforce.soql import CompiledQuery, compile_soql
from tandem.sandbox.salesforce.store import Store

__all__ = ["LOCATOR_TTL_S", "MAX_BATCH", "MAX_LOCATORS", "MIN_BATCH", "QueryRunner"]

MIN_BATCH, MAX_BATCH = 200, 2000
LOCATOR_TTL_S = 15 * 60
MAX_LOCATORS = 500
_IDS_PER_STATEMENT = 500


@dataclass
class _Cursor:
    rows: list[tuple[Any, ...]]
    query: CompiledQuery
    batch_size: int
    touched: float


class QueryRunner:
    """Compiles and runs SOQL; keeps the snapshots behind query locators.

    Args:
        store: the org's store.
        lock: the org's lock (every use of the connection holds it).
        clock: the org's clock, for relative date literals.
    """

    def __init__(self, store: Store, lock: threading.RLock, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._lock = lock
        self._clock = clock
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._locator_ids = IdGenerator("01g")

    def compile(self, soql: str, include_deleted: bool) -> CompiledQuery:
        """Parse and compile ``soql`` against the org schema."""
        today = self._clock().date()
        return compile_soql(soql, self._store.schema, include_deleted=include_deleted, today=today)

    def first_page(
        self, soql: str, include_deleted: bool, batch_size: int, api_version: str
    ) -> QueryPage:
        """Run the query; return its first page and keep the rest under a locator."""
        compiled = self.compile(soql, include_deleted)
        with self._lock:
            rows = self._store.conn.execute(compiled.sql, compiled.params).fetchall()
        if compiled.shape.count_only:
            return QueryPage(total_size=int(rows[0][0]), done=True, records=[], locator=None)
        size = max(MIN_BATCH, min(MAX_BATCH, batch_size))
        locator = None
        if len(rows) > size:
            with self._lock:
                self._expire()
                cursor_id = self._locator_ids.next_id()
                self._cursors[cursor_id] = _Cursor(rows, compiled, size, time.monotonic())
            locator = f"{cursor_id}-{size}"
        return self._page(compiled, rows, 0, size, locator, api_version)

    def next_page(self, locator: str, api_version: str) -> QueryPage:
        """Return the page a locator (``01g...-2000``) points at.

        Raises:
            ApiError: 400 ``INVALID_QUERY_LOCATOR`` for an unknown, expired or bad locator.
        """
        cursor_id, _, offset_text = locator.partition("-")
        with self._lock:
            self._expire()
            cursor = self._cursors.get(cursor_id)
            if cursor is None or not offset_text.isdigit() or int(offset_text) >= len(cursor.rows):
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            cursor.touched = time.monotonic()
            self._cursors.move_to_end(cursor_id)
        start = int(offset_text)
        end = start + cursor.batch_size
        next_locator = f"{cursor_id}-{end}" if end < len(cursor.rows) else None
        return self._page(
            cursor.query, cursor.rows, start, cursor.batch_size, next_locator, api_version
        )

    def csv_rows(self, soql: str, include_deleted: bool) -> tuple[list[str], Iterator[list[str]]]:
        """Run the query for a Bulk job: header and CSV-ready rows (a snapshot).

        Raises:
            ApiError: as for :meth:`first_page`; ``COUNT()`` is refused.
        """
        compiled = self.compile(soql, include_deleted)
        if compiled.shape.count_only:
            raise ApiError(400, "INVALIDJOB", "COUNT() is not supported by Bulk API query jobs")
        if compiled.shape.children:
            raise ApiError(
                400, "INVALIDJOB", "Bulk API query jobs do not support child relationship queries"
            )
        with self._lock:
            rows = self._store.conn.execute(compiled.sql, compiled.params).fetchall()
        convert = compiled.csv_converter()
        return compiled.header(), (convert(row) for row in rows)

    def _page(
        self,
        compiled: CompiledQuery,
        rows: list[tuple[Any, ...]],
        start: int,
        size: int,
        locator: str | None,
        api_version: str,
    ) -> QueryPage:
        base = f"/services/data/v{api_version}"
        chunk = rows[start : start + size]
        shape = compiled.shape
        records = [shape.build(row, base) for row in chunk]
        for child in shape.children:
            parent_ids = [row[0] for row in chunk]
            child_rows: list[tuple[Any, ...]] = []
            with self._lock:
                for at in range(0, len(parent_ids), _IDS_PER_STATEMENT):
                    ids = parent_ids[at : at + _IDS_PER_STATEMENT]
                    sql = child.statement(len(ids))
                    child_rows += self._store.conn.execute(sql, [*child.params, *ids]).fetchall()
            by_parent = shape.build_children(child, child_rows, base)
            for record, parent_id in zip(records, parent_ids, strict=True):
                record[child.key] = by_parent.get(parent_id)
        return QueryPage(
            total_size=len(rows), done=locator is None, records=records, locator=locator
        )

    def _expire(self) -> None:
        limit = time.monotonic() - LOCATOR_TTL_S
        for key in [k for k, c in self._cursors.items() if c.touched < limit]:
            del self._cursors[key]
        while len(self._cursors) >= MAX_LOCATORS:
            self._cursors.popitem(last=False)
