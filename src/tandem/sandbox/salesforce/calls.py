"""How the sandbox org runs a call: one transaction, refusals turned into API errors.

A single-record REST call runs in a transaction of its own; an sObject Collections call runs
each record in a savepoint and, under ``allOrNone``, rolls the whole call back when one fails,
answering ``ALL_OR_NONE_OPERATION_ROLLED_BACK`` for the records that had succeeded.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from tandem.sandbox.salesforce.errors import ApiError, RecordError
from tandem.sandbox.salesforce.results import ROLLED_BACK, SaveResult
from tandem.sandbox.salesforce.schema import FieldDef
from tandem.sandbox.salesforce.store import Store, Table
from tandem.sandbox.salesforce.values import to_wire

MAX_COLLECTION = 200


class _Rollback(Exception):
    """Raised inside a transaction to undo an allOrNone call that had a failure."""


def api_error(error: RecordError) -> ApiError:
    status = 404 if error.code in ("NOT_FOUND", "ENTITY_IS_DELETED") else 400
    return error.to_api_error(status)


def check_batch(count: int, limit: int = MAX_COLLECTION) -> None:
    if count > limit:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {limit} records into this call",
        )


def wire_record(
    table: Table, row: dict[str, Any], fields: list[FieldDef], api_version: str
) -> dict[str, Any]:
    name = table.obj.name
    out: dict[str, Any] = {
        "attributes": {
            "type": name,
            "url": f"/services/data/v{api_version}/sobjects/{name}/{row['Id']}",
        }
    }
    for f in fields:
        out[f.name] = to_wire(f, row[f.name])
    return out


def run_single(lock: threading.RLock, store: Store, action: Callable[[], Any]) -> Any:
    """Run one single-record REST call in a transaction, mapping refusals to ApiError."""
    with lock:
        store.tick()
        try:
            with store.transaction():
                return action()
        except RecordError as exc:
            raise api_error(exc) from None
        except sqlite3.IntegrityError as exc:
            raise ApiError(400, "DUPLICATE_VALUE", f"duplicate value found: {exc}") from None


def run_batch(
    lock: threading.RLock,
    store: Store,
    items: list[Any],
    action: Callable[[Any], tuple[str | None, bool | None]],
    all_or_none: bool,
    id_of: Callable[[Any], str | None] = lambda item: None,
) -> list[SaveResult]:
    """Apply ``action`` per item, each in a savepoint; roll all back on allOrNone failure."""
    with lock:
        store.tick()
        results: list[SaveResult] = []
        try:
            with store.transaction():
                for item in items:
                    try:
                        with store.savepoint():
                            record_id, created = action(item)
                        results.append(SaveResult(record_id, True, [], created))
                    except RecordError as exc:
                        results.append(SaveResult(id_of(item), False, [exc.to_save_error()]))
                    except sqlite3.IntegrityError as exc:
                        error = RecordError("DUPLICATE_VALUE", f"duplicate value found: {exc}")
                        results.append(SaveResult(id_of(item), False, [error.to_save_error()]))
                if all_or_none and any(not r.success for r in results):
                    raise _Rollback
        except _Rollback:
            return [
                r if not r.success else SaveResult(None, False, [dict(ROLLED_BACK)], None)
                for r in results
            ]
        return results


__all__ = ["MAX_COLLECTION", "api_error", "check_batch", "run_batch", "run_single", "wire_record"]
