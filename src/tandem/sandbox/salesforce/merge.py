"""Merging records, as Salesforce's ``merge()`` does (SOAP API; the merge screens; Apex).

Up to three records of one object (Account, Contact or Lead: :data:`~.schema.MERGEABLE`)
become one: the *master* keeps its Id and takes the field values the request sets on it;
the related records of the others are re-parented to it; the others are deleted into the
recycle bin with ``MasterRecordId`` set to the master. That field is how a reader tells a
merge from a delete: ``queryAll`` returns a loser with ``IsDeleted = true`` and
``MasterRecordId`` set, while ``getDeleted`` lists it as any other delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tandem.sandbox.salesforce.errors import RecordError
from tandem.sandbox.salesforce.records import RecordWriter
from tandem.sandbox.salesforce.schema import MERGEABLE
from tandem.sandbox.salesforce.store import Table, quote_ident

__all__ = ["MAX_LOSERS", "MergeResult", "merge_records"]

MAX_LOSERS = 2
"""Records merged into one master per request: three records in all, as in the UI."""


@dataclass(frozen=True)
class MergeResult:
    """What one merge request did (the SOAP ``MergeResult``).

    Attributes:
        master_id: the master's Id (``id``); None when the request was refused early.
        merged_ids: the losers, now deleted (``mergedRecordIds``).
        related_ids: the related records re-parented to the master (``updatedRelatedIds``).
        errors: ``(statusCode, message)`` of a refused request; empty on success.
    """

    master_id: str | None
    merged_ids: list[str] = field(default_factory=list)
    related_ids: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def success(self) -> bool:
        """Whether the merge was made."""
        return not self.errors


def merge_records(
    writer: RecordWriter,
    table: Table,
    master_id: Any,
    loser_ids: list[Any],
    values: dict[str, Any],
) -> tuple[str, list[str], list[str]]:
    """Merge ``loser_ids`` into ``master_id`` inside the caller's transaction.

    Args:
        writer: the org's record writer.
        table: the object's table.
        master_id: the master's Id as given.
        loser_ids: the Ids of the records merged into it (one or two).
        values: wire field values the master takes (from the losers, as the user chose).

    Returns:
        ``(master Id, loser Ids, re-parented related Ids)``, Ids in 18-character form.

    Raises:
        RecordError: the object cannot be merged, an Id is malformed, unknown, deleted or
            named twice, there are too many records, or the master's new values are refused.
    """
    obj = table.obj
    if obj.name not in MERGEABLE:
        raise RecordError("INVALID_TYPE", f"merge is not supported for entity type {obj.name}", [])
    if not loser_ids:
        raise RecordError("REQUIRED_FIELD_MISSING", "Required field missing: recordToMergeIds", [])
    if len(loser_ids) > MAX_LOSERS:
        raise RecordError(
            "LIMIT_EXCEEDED", "Up to three records can be merged in a single request", []
        )
    master = writer.check_id(table, master_id)
    losers = [writer.check_id(table, raw) for raw in loser_ids]
    if master in losers or len(set(losers)) != len(losers):
        raise RecordError(
            "INVALID_ID_FIELD", "a record cannot be merged into itself or named twice", []
        )
    for loser in losers:
        writer.live_row(table, loser)
    writer.update(table, master, values)  # the master is modified by a merge, values or not
    related = _reparent(writer, table, master, losers)
    store = writer.store
    for loser in losers:
        writer.delete(table, loser)
        store.conn.execute(table.update_statement(("MasterRecordId",)), (master, loser))
    return master, losers, related


def _reparent(writer: RecordWriter, table: Table, master: str, losers: list[str]) -> list[str]:
    """Point every live related record of the losers at the master; their Ids."""
    store = writer.store
    merged = {master, *losers}
    moved: list[str] = []
    for child, ref in writer.schema.child_relationships(table.obj.name):
        child_table = store.tables[child.name]
        marks = ", ".join("?" for _ in losers)
        rows = store.conn.execute(
            f'SELECT "Id" FROM {child_table.sql_name} WHERE {quote_ident(ref.name)} IN ({marks})'
            ' AND "IsDeleted" = 0 ORDER BY "Id"',
            losers,
        ).fetchall()
        for (child_id,) in rows:
            if child_id in merged:
                continue  # a loser pointing at another (Account.ParentId): it goes itself
            current = writer.live_row(child_table, child_id)
            writer.update_prepared(child_table, current, {ref.name: master})
            moved.append(child_id)
    return moved
