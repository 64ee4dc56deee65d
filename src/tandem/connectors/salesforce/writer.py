"""Salesforce writes: sObject Collections, and Bulk API 2.0 ingest jobs above a volume.

Writes are sObject Collections (200 per call, ``allOrNone=false``): upsert by the binding's
external ID, update by Id, delete by Id. An action group above ``bulk_threshold`` ops goes
through a Bulk API 2.0 ingest job, handed over before its results are waited for. Per-record
failures come back as outcomes naming record, field and value; transient ones are retried
through Collections for just those records. An update that must not land on a record edited
since it was read goes alone, guarded (:mod:`~tandem.connectors.salesforce.guarded`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tandem.connectors.base import Change, EntityBinding, EntitySchema, WriteOp, WriteOutcome
from tandem.connectors.salesforce.bulk import BulkApi, IngestOperation, upload_parts
from tandem.connectors.salesforce.client import SalesforceClient, SaveResult
from tandem.connectors.salesforce.errors import record_action
from tandem.connectors.salesforce.guarded import write_guarded
from tandem.connectors.salesforce.records import (
    RecordBuilder,
    csv_table,
    flatten,
    group_by_action,
    outcome,
)
from tandem.connectors.salesforce.settings import SalesforceSettings
from tandem.connectors.salesforce.values import holds_null_cell
from tandem.errors import Fatal, RecordRejected

ReadRecords = Callable[[EntityBinding, Sequence[str]], Awaitable[dict[str, Change]]]
"""Reads records by key (the connector's ``read_records``)."""

_Collect = Callable[[], Awaitable[list[SaveResult]]]
"""Waits for a handed-over Bulk job and gives one result per record."""


class SalesforceWriter:
    """Writes batches of ops to one org."""

    system = "salesforce"

    def __init__(self, client: SalesforceClient, bulk: BulkApi, settings: SalesforceSettings):
        self.client = client
        self.bulk = bulk
        self.settings = settings

    async def submit(
        self,
        binding: EntityBinding,
        builder: RecordBuilder,
        ops: Sequence[WriteOp],
        read_records: ReadRecords,
        forget: Callable[[EntityBinding], None],
    ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
        """Hand ``ops`` over (see :meth:`SalesforceConnector.submit_batch`); ``builder``
        builds records against the object's description, ``read_records`` reads records
        anew (a guarded update), ``forget`` drops the description when a job is refused;
        :meth:`check` has passed."""
        outcomes: list[WriteOutcome | None] = [None] * len(ops)
        waiting: list[tuple[list[int], str, _Collect]] = []
        # updates that must not land on a record edited since it was read: alone, each with
        # If-Unmodified-Since (see .guarded); the rest go in Collections or Bulk as ever
        alone = await write_guarded(
            self.client, read_records, binding, builder.build, ops, outcomes
        )
        for i in alone:
            refused = outcomes[i]
            if refused is not None and refused.error is not None:
                _raise_schema_error(binding, "update", refused.error)
        for action, indexes in group_by_action(ops, skip=alone).items():
            operation = f"{action} {binding.source}"
            ready: list[tuple[int, dict[str, Any]]] = []
            build = builder.build
            for i in indexes:
                try:
                    ready.append((i, build(ops[i], operation)))
                except RecordRejected as exc:
                    outcomes[i] = WriteOutcome(ops[i].ref, False, error=exc)
            if not ready:
                continue
            if len(ready) > self.settings.bulk_threshold:
                ready = await self._write_null_cells(binding, action, ops, ready, outcomes)
            if len(ready) > self.settings.bulk_threshold:
                # The built records go once uploaded: a row the job leaves for a retry is
                # built again from its op (memory holds one batch's records, not two).
                placed = [i for i, _ in ready]

                def rebuild(
                    picks: list[int],
                    placed: list[int] = placed,
                    operation: str = operation,
                    build: Callable[[WriteOp, str], dict[str, Any]] = build,
                ) -> list[dict[str, Any]]:
                    return [build(ops[placed[n]], operation) for n in picks]

                records = [record for _, record in ready]
                ready = []
                collect = await self._bulk_submit(
                    binding, action, records, builder.relations, rebuild
                )
                del records
                waiting.append((placed, operation, collect))
                continue
            results = await self._collections_write(binding, action, [r for _, r in ready])
            for (i, _), result in zip(ready, results, strict=True):
                outcomes[i] = outcome(ops[i], result, binding, operation)

        async def collect_all() -> list[WriteOutcome]:
            for placed, operation, collect in waiting:
                try:
                    results = await collect()
                except Fatal:
                    forget(binding)
                    raise
                for i, result in zip(placed, results, strict=True):
                    outcomes[i] = outcome(ops[i], result, binding, operation)
            return [o for o in outcomes if o is not None]

        return collect_all

    async def _write_null_cells(
        self,
        binding: EntityBinding,
        action: str,
        ops: Sequence[WriteOp],
        ready: list[tuple[int, dict[str, Any]]],
        outcomes: list[WriteOutcome | None],
    ) -> list[tuple[int, dict[str, Any]]]:
        """Write through Collections the records of a Bulk group that hold the text ``#N/A``
        (Bulk CSV would empty the field instead); the others are returned for the job."""
        if not any(holds_null_cell(record) for _, record in ready):
            return ready
        direct = [(i, record) for i, record in ready if holds_null_cell(record)]
        operation = f"{action} {binding.source}"
        results = await self._collections_write(binding, action, [r for _, r in direct])
        for (i, _), result in zip(direct, results, strict=True):
            outcomes[i] = outcome(ops[i], result, binding, operation)
        return [(i, record) for i, record in ready if not holds_null_cell(record)]

    def check(self, binding: EntityBinding, schema: EntitySchema, ops: Sequence[WriteOp]) -> None:
        """Refuse (``Fatal``) ops naming a field the object lacks, or an upsert without an
        external ID."""
        names = {name for op in ops for name in op.values} | set(binding.fields)
        if binding.external_id:
            names.add(binding.external_id)
        unknown = sorted(n for n in names if "." not in n and n not in schema.fields)
        if unknown:
            raise Fatal(
                f"{binding.source} has no field(s) {', '.join(unknown)} (entity {binding.name})",
                system=self.system,
                operation=f"write {binding.source}",
                code="INVALID_FIELD",
            )
        if any(op.action == "upsert" for op in ops) and not binding.external_id:
            raise Fatal(
                f"entity {binding.name}: upsert needs an external_id field on {binding.source}",
                system=self.system,
                operation=f"upsert {binding.source}",
            )

    async def _collections_write(
        self, binding: EntityBinding, action: str, records: list[dict[str, Any]]
    ) -> list[SaveResult]:
        obj = binding.source
        if action == "upsert":
            assert binding.external_id is not None  # checked in check
            results = await self.client.upsert(obj, binding.external_id, records)
        elif action == "update":
            results = await self.client.update(obj, records)
        else:
            results = await self.client.delete([str(r["Id"]) for r in records], sobject=obj)
        _raise_schema_errors(binding, action, results)
        return results

    async def _bulk_submit(
        self,
        binding: EntityBinding,
        action: str,
        records: list[dict[str, Any]],
        relations: set[str],
        rebuild: Callable[[list[int]], list[dict[str, Any]]],
    ) -> _Collect:
        """Hand ``records`` to one Bulk ingest job (``relations``: the lookups records may
        nest); the returned coroutine function waits for the job and gives one result per
        record. ``rebuild`` gives the records at some positions again, for a retry."""
        key = binding.external_id if action == "upsert" else "Id"
        assert key is not None
        if relations:
            records = [r if relations.isdisjoint(r) else flatten(r) for r in records]
        columns, rows = csv_table(records, key)
        operation: IngestOperation = (
            "upsert" if action == "upsert" else ("update" if action == "update" else "delete")
        )
        # one job per part: a job takes at most about 100 MB of CSV (long texts, many rows)
        parts = upload_parts(columns, rows)
        jobs = [
            await self.bulk.submit(
                binding.source,
                operation,
                columns,
                rows if len(parts) == 1 else rows[part.start : part.stop],
                key_column=key,
                external_id=binding.external_id if action == "upsert" else None,
            )
            for part in parts
        ]

        async def collect() -> list[SaveResult]:
            results = [r for job in jobs for r in await self.bulk.collect(job)]
            # Rows the job left unprocessed or locked go again through Collections, which
            # retries just the records that keep failing transiently.
            again = [
                i
                for i, r in enumerate(results)
                if r is None
                or (not r.success and any(record_action(e.code) == "retry" for e in r.errors))
            ]
            if again:
                retried = await self._collections_write(binding, action, rebuild(again))
                for i, result in zip(again, retried, strict=True):
                    results[i] = result
            return [r if r is not None else SaveResult(None, False) for r in results]

        return collect


_SCHEMA_CODES = ("INVALID_FIELD",)
"""Per-record codes that blame the flow's mapping, not the record: the object lacks a field
the write names (removed since the describe). Dead-lettering would refuse every record."""


def _raise_schema_errors(binding: EntityBinding, action: str, results: list[SaveResult]) -> None:
    """Raise ``Fatal`` when the org refused a record for a field the object does not have."""
    for result in results:
        for error in result.errors:
            if error.code in _SCHEMA_CODES:
                _schema_fatal(binding, action, error.code, error.fields, error.message)


def _raise_schema_error(binding: EntityBinding, action: str, error: Exception) -> None:
    """:func:`_raise_schema_errors` for an outcome's error (a guarded update's)."""
    if isinstance(error, RecordRejected) and error.code in _SCHEMA_CODES:
        fields = (error.field,) if error.field else ()
        _schema_fatal(binding, action, error.code, fields, str(error))


def _schema_fatal(
    binding: EntityBinding, action: str, code: str, fields: Sequence[str], message: str
) -> None:
    named = f" {', '.join(fields)}" if fields else ""
    raise Fatal(
        f"{binding.source} refused field(s){named} (entity {binding.name}), removed since the "
        f"describe? {message}",
        system="salesforce",
        operation=f"{action} {binding.source}",
        code=code,
    )


__all__ = ["SalesforceWriter"]
