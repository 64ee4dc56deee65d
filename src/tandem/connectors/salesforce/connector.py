"""The Salesforce connector: the :class:`~tandem.connectors.base.Connector` contract over REST.

* Reads go by the compound cursor ``(SystemModstamp, Id)`` through ``queryAll`` (soft deletes
  arrive as ``IsDeleted = true``), plus ``getDeleted`` for the window so records already purged
  from the recycle bin are still reported. On an object that can be merged (its describe has
  ``MasterRecordId``: Account, Contact, Lead) a delete that a merge made says so
  (:attr:`~tandem.connectors.base.Change.merged_into`) when ``queryAll`` read the row; a
  delete known otherwise (``getDeleted``, a record not found) is looked up on demand
  (:meth:`SalesforceConnector.merged_into`, one ``queryAll`` per 200). A page that comes
  back full at or above ``bulk_threshold`` rows hands the rest of the read to a Bulk API 2.0
  query job.
* Writes (:mod:`~tandem.connectors.salesforce.writer`) are sObject Collections, or a Bulk API
  2.0 ingest job above ``bulk_threshold`` ops (:mod:`~tandem.connectors.salesforce.bulk`).
* Calls are the scarce resource: ``open`` makes none (the quota governor learns the org's usage
  from the ``Sforce-Limit-Info`` header of the first answer), a description saved by an earlier
  run can stand in for a describe (:meth:`SalesforceConnector.prime_schema`), and the org's
  Bulk time per row can be kept across processes (:attr:`SalesforceConnector.bulk_rate`,
  :meth:`~SalesforceConnector.learned` / :meth:`~SalesforceConnector.recall`).
* An Id written in its 15-character form (an ERP column filled by an older integration) is
  taken in its 18-character one (:meth:`SalesforceConnector.normalise_key`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from tandem.connectors.base import (
    Change,
    Cursor,
    EntityBinding,
    EntitySchema,
    WriteOp,
    WriteOutcome,
    sleep_wait,
)
from tandem.connectors.http import Sleep
from tandem.connectors.salesforce import probe
from tandem.connectors.salesforce.bulk import BulkApi
from tandem.connectors.salesforce.client import COLLECTION_LIMIT, SalesforceClient
from tandem.connectors.salesforce.describe import diff_schemas, to_schema
from tandem.connectors.salesforce.ids import id18
from tandem.connectors.salesforce.records import (
    MODSTAMP,
    RecordBuilder,
    row_to_change,
    select_fields,
)
from tandem.connectors.salesforce.settings import SalesforceSettings
from tandem.connectors.salesforce.soql import (
    Select,
    cursor_condition,
    identifier,
    in_condition,
    quote,
)
from tandem.connectors.salesforce.writer import SalesforceWriter
from tandem.errors import BindingError, ConfigError, Fatal


def _readable_key(settings: SalesforceSettings) -> None:
    """Refuse a JWT signing key file that cannot be read, at its setting, before any login.

    Raises:
        ConfigError: ``private_key_file`` is missing or unreadable (the key is not shown).
    """
    path = settings.private_key_file
    if path is None:
        return
    try:
        path.open("rb").close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"private_key_file {path} cannot be read: {reason}", field="private_key_file"
        ) from None


__all__ = ["SalesforceConnector"]

logger = logging.getLogger(__name__)

_STOP_CODES = ("REQUEST_LIMIT_EXCEEDED", "QUOTA_RESERVE", "INVALID_SESSION_ID")
_BULK_RATE = "bulk_seconds_per_row"
_BULK_MARGIN = "bulk_results_margin"
_GET_DELETED_REACH = timedelta(days=15)
_MASTER = "MasterRecordId"
"""Set on the records a merge deleted: the record they were merged into."""
_RECORD_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
"""A Salesforce record Id: 15 letters and digits, or 18 (with the case-safe suffix)."""


class SalesforceConnector:
    """Salesforce as a Tandem system.

    Args:
        settings: a :class:`SalesforceSettings`, or a mapping validated into one.
        http_transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).
        sleep: the sleep used for backoff, polling and waiting (tests inject a fake).
        rng: the jitter source.
        clock: the current UTC time (tests inject a fixed one).

    Raises:
        ConfigError: the settings mapping is invalid (the field is named).
    """

    system = "salesforce"

    def __init__(
        self,
        settings: SalesforceSettings | Mapping[str, Any],
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not isinstance(settings, SalesforceSettings):
            try:
                settings = SalesforceSettings.model_validate(dict(settings))
            except ValidationError as exc:
                first = exc.errors()[0]
                field = ".".join(str(p) for p in first["loc"]) or None
                raise ConfigError(f"salesforce settings: {first['msg']}", field=field) from None
        _readable_key(settings)
        self.settings = settings
        self.client = SalesforceClient(
            settings, http_transport=http_transport, sleep=sleep, rng=rng
        )
        self.bulk = BulkApi(self.client)
        self.writer = SalesforceWriter(self.client, self.bulk, settings)
        self.clock = clock
        self._schemas: dict[str, EntitySchema] = {}
        self._builders: dict[str, RecordBuilder] = {}
        self._closed = False

    async def source_time(self) -> datetime | None:
        """The org's time now, from the ``Date`` of its latest answer: no API call is made
        (before any answer, the one the token request gets: token calls are not API calls)."""
        if self.client.clock.now() is None:
            await self.client.login()
        return self.client.clock.now()

    @property
    def calls_made(self) -> int:
        """API calls this connector made (token calls excluded; they are not API calls)."""
        return self.client.governor.calls_made

    @property
    def bulk_rate(self) -> float | None:
        """The org's Bulk ingest time per row in seconds, ``None`` until known.

        Learned from every ingest job whose end this connector saw; set it from a value an
        earlier process learned (a plain float), so the first job of this one is not polled
        but asked for its results when it should be done (see :mod:`.bulk`).

        Raises:
            ValueError: on setting anything but ``None`` or a positive finite number.
        """
        return self.bulk.seconds_per_row

    @bulk_rate.setter
    def bulk_rate(self, value: float | None) -> None:
        self.bulk.seconds_per_row = value

    def learned(self) -> dict[str, float]:
        """What this connector learned about the org (:class:`~tandem.connectors.base.Learner`).

        ``bulk_seconds_per_row``: :attr:`bulk_rate`, once known; ``bulk_seconds_per_row.<op>``:
        the time per row of one ingest operation (an update may be slower than an insert);
        ``bulk_results_margin``: the learned room before a job's results are asked for.
        """
        rate = self.bulk_rate
        learned = {} if rate is None else {_BULK_RATE: rate}
        for operation, value in self.bulk.operation_rates.items():
            learned[f"{_BULK_RATE}.{operation}"] = value
        if learned:
            learned[_BULK_MARGIN] = self.bulk.results_margin
        return learned

    def recall(self, values: Mapping[str, float]) -> None:
        """Take what an earlier process learned (see :meth:`learned`).

        Unknown names and unusable numbers (not positive, not finite) are ignored.
        """
        for name, value in values.items():
            base, _, operation = name.partition(".")
            if name == _BULK_MARGIN:
                try:
                    self.bulk.results_margin = value
                except (TypeError, ValueError):
                    logger.debug("salesforce: ignoring a remembered results margin %r", value)
                continue
            if base != _BULK_RATE:
                continue
            try:
                if operation:
                    self.bulk.learn_rate(operation, value)
                else:
                    self.bulk_rate = value
            except (TypeError, ValueError):
                logger.debug("salesforce: ignoring a remembered Bulk rate %s=%r", name, value)

    # --- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Start authenticating; no API call.

        The token is fetched on a task of its own while the engine reads its first batch;
        the first call waits for it, and a login that fails fails that call. The quota
        governor has no figures until the first answer's ``Sforce-Limit-Info`` header;
        until then it lets calls through. ``client.limits()`` reads them on demand.
        """
        self._schemas.clear()
        self._builders.clear()
        self.client.prefetch_login()

    async def close(self) -> None:
        """Close the HTTP connections; safe to call twice."""
        if not self._closed:
            self._closed = True
            await self.client.aclose()

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Salesforce is polled: sleep ``timeout`` seconds and report no signal."""
        return await sleep_wait(timeout)

    async def fingerprints(
        self, windows: Sequence[tuple[EntityBinding, datetime]]
    ) -> dict[str, str]:
        """Whether objects changed, for up to 25 objects a call (see :mod:`.probe`)."""
        return await probe.fingerprints(self.client, self.settings.api_version, windows)

    def normalise_key(self, key: str) -> str:
        """A record Id in its 18-character form, the one Salesforce answers with: a
        15-character Id (older integrations, reports, the UI's URLs) gets its case-safe
        suffix; anything else is kept as it is (:func:`.ids.id18`)."""
        return id18(key)

    # --- schema ----------------------------------------------------------------------------

    async def describe(self, binding: EntityBinding) -> EntitySchema:
        """The described schema of ``binding.source``, cached for this run."""
        schema = self._schemas.get(binding.source)
        if schema is None:
            _check_names(binding)
            try:
                described = await self.client.describe(binding.source)
            except Fatal as exc:
                if exc.code != "NOT_FOUND":
                    raise
                raise BindingError(
                    f"no object {binding.source!r} in Salesforce (describe answered NOT_FOUND):"
                    " check the API name (custom objects end in __c) and that the integration"
                    " user may see it",
                    entity=binding.name,
                    setting="source",
                    native=binding.source,
                ) from None
            schema = to_schema(described)
            self._schemas[binding.source] = schema
        return schema

    def prime_schema(self, binding: EntityBinding, schema: EntitySchema) -> None:
        """Use a description saved by an earlier run as ``binding.source``'s for this run.

        The optional :class:`~tandem.connectors.base.SchemaCache` part of the contract: it
        spares the describe call. The binding's names are checked as :meth:`describe` does.

        Raises:
            ConfigError: a name of the binding is not a SOQL identifier.
        """
        _check_names(binding)
        self._schemas[binding.source] = schema

    async def schema_drift(self, binding: EntityBinding, previous: EntitySchema) -> list[str]:
        """Describe again and list what changed since ``previous`` (flow fields first)."""
        self._schemas.pop(binding.source, None)
        current = await self.describe(binding)
        watched = [*binding.fields, *([binding.external_id] if binding.external_id else [])]
        return diff_schemas(previous, current, watched)

    # --- reads -----------------------------------------------------------------------------

    async def read_changes(
        self, binding: EntityBinding, since: Cursor | None, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        """Changes strictly after ``since`` in ``(SystemModstamp, Id)`` order, deletes included."""
        schema = await self.describe(binding)
        merges = _MASTER in schema.fields
        purged = deque(await self._deleted_since(binding, since) if since is not None else [])
        deleted_seen: set[str] = set()
        batch: list[Change] = []
        fields = select_fields(binding, with_deleted=True)
        if merges and _MASTER not in fields:
            fields.append(_MASTER)

        def query(position: Cursor | None) -> Select:
            select = Select(binding.source, fields).order_by(MODSTAMP, binding.key)
            return select.where(cursor_condition(position, key=binding.key)) if position else select

        async for change in self._scan(
            binding, schema, since, query, lambda c: c.cursor, include_deleted=True, merges=merges
        ):
            while purged and purged[0].cursor < change.cursor:
                gone = purged.popleft()
                if gone.key not in deleted_seen:
                    deleted_seen.add(gone.key)
                    batch.append(gone)
            if change.deleted:
                if change.key in deleted_seen:
                    continue
                deleted_seen.add(change.key)
            batch.append(change)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        for gone in purged:
            if gone.key not in deleted_seen:
                deleted_seen.add(gone.key)
                batch.append(gone)
        for start in range(0, len(batch), batch_size):
            yield batch[start : start + batch_size]

    async def read_all(
        self, binding: EntityBinding, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        """Every live record in Id order; Bulk query past ``bulk_threshold`` rows."""
        schema = await self.describe(binding)
        fields = select_fields(binding, with_deleted=False)

        def query(position: str | None) -> Select:
            select = Select(binding.source, fields).order_by(binding.key)
            return select.where(f"{binding.key} > {quote(position)}") if position else select

        batch: list[Change] = []
        async for change in self._scan(
            binding, schema, None, query, lambda c: c.key, include_deleted=False
        ):
            batch.append(change)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    async def read_records(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
        """The live records among ``keys`` (SOQL ``Id IN``, 200 per query)."""
        schema = await self.describe(binding)
        fields = select_fields(binding, with_deleted=False)
        found: dict[str, Change] = {}
        unique = list(dict.fromkeys(keys))
        info = schema.fields.get(binding.key)
        if info is not None and info.type == "id":
            # Salesforce refuses the whole query over one malformed Id in the list
            # (INVALID_QUERY_FILTER_OPERATOR); a key that is none names no record.
            unique = [key for key in unique if _RECORD_ID.fullmatch(key)]
        for start in range(0, len(unique), COLLECTION_LIMIT):
            chunk = unique[start : start + COLLECTION_LIMIT]
            soql = Select(binding.source, fields).where(in_condition(binding.key, chunk)).soql()
            async for page in self.client.query_pages(soql):
                for row in page.records:
                    change = row_to_change(row, binding, schema)
                    found[change.key] = change
        return found

    async def _scan(
        self,
        binding: EntityBinding,
        schema: EntitySchema,
        start: Any,
        query: Callable[[Any], Select],
        position_of: Callable[[Change], Any],
        *,
        include_deleted: bool,
        merges: bool = False,
    ) -> AsyncIterator[Change]:
        """Rows in the query's order, re-querying from the last position per LIMIT round.

        A round that comes back full at or above ``bulk_threshold`` rows means a large read:
        the rest is done by one Bulk query job instead of many REST pages. ``merges``: the
        query selects ``MasterRecordId``; a deleted row holding one is a merge's loser.
        """
        limit = max(self.settings.query_batch_size, 200)
        if self.settings.bulk_threshold <= limit:
            limit = max(self.settings.bulk_threshold, 1)
        position = start
        total = 0
        while True:
            seen, previous = 0, position
            soql = query(position).limit(limit).soql()
            async for page in self.client.query_pages(soql, include_deleted=include_deleted):
                for row in page.records:
                    change = row_to_change(row, binding, schema)
                    if merges:
                        change = _merge_of(change, row)
                    position = position_of(change)
                    seen += 1
                    yield change
            total += seen
            if seen < limit:
                return
            if position == previous:  # a server ignoring the cursor would loop forever
                raise Fatal(
                    f"query did not advance past {position!r}",
                    system=self.system,
                    operation=f"read {binding.source}",
                )
            if total >= self.settings.bulk_threshold:
                break
        soql = query(position).soql()
        logger.info("salesforce %s: large read, continuing with a Bulk query", binding.source)
        async for rows in self.bulk.query(soql, include_deleted=include_deleted):
            for row in rows:
                change = row_to_change(row, binding, schema, csv=True)
                yield _merge_of(change, row) if merges else change

    async def _deleted_since(self, binding: EntityBinding, since: Cursor) -> list[Change]:
        """Deletes after ``since`` from ``getDeleted`` (covers purged records), cursor order."""
        if not self.settings.use_get_deleted:
            return []
        end = self.clock().astimezone(UTC).replace(microsecond=0)
        start = since.modified_at.astimezone(UTC).replace(second=0, microsecond=0)
        if end - start > _GET_DELETED_REACH:
            logger.warning(
                "salesforce %s: cursor older than getDeleted can reach; purged deletes before %s "
                "need a reconcile",
                binding.source,
                (end - _GET_DELETED_REACH).isoformat(),
            )
            start = end - _GET_DELETED_REACH + timedelta(minutes=1)
        start = min(start, end - timedelta(minutes=1))
        try:
            result = await self.client.get_deleted(binding.source, start, end)
        except Fatal as exc:
            if exc.code in _STOP_CODES:
                raise
            logger.warning("salesforce %s: getDeleted unavailable: %s", binding.source, exc)
            return []
        if result.earliest_available is not None and result.earliest_available > start:
            logger.warning(
                "salesforce %s: deletes before %s are no longer listed; run a reconcile",
                binding.source,
                result.earliest_available.isoformat(),
            )
        changes = [Change(key, {}, when, deleted=True) for key, when in result.records]
        return sorted((c for c in changes if c.cursor > since), key=lambda c: c.cursor)

    async def merged_into(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, str]:
        """Of the deleted records among ``keys``, a merge's losers -> their master's Id.

        The optional :class:`~tandem.connectors.base.MergeLookup` part of the contract.
        ``getDeleted`` lists a merge's losers as plain deletes, and a record the work queue
        looks for is simply not found; while a loser is in the recycle bin ``queryAll`` still
        has it with ``MasterRecordId`` (one query per 200 keys). One purged since, or on an
        object without the field, reads as a delete.
        """
        schema = await self.describe(binding)
        if _MASTER not in schema.fields:
            return {}
        keys = [key for key in dict.fromkeys(keys) if _RECORD_ID.fullmatch(key)]
        masters: dict[str, str] = {}
        for start in range(0, len(keys), COLLECTION_LIMIT):
            chunk = keys[start : start + COLLECTION_LIMIT]
            soql = (
                Select(binding.source, [binding.key, "IsDeleted", _MASTER])
                .where(in_condition(binding.key, chunk))
                .where(f"{_MASTER} != null")
                .soql()
            )
            async for page in self.client.query_pages(soql, include_deleted=True):
                for row in page.records:
                    if row.get(_MASTER) and row.get("IsDeleted"):
                        masters[str(row[binding.key])] = str(row[_MASTER])
        return masters

    # --- writes ----------------------------------------------------------------------------

    async def write_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        """Apply ``ops``; one outcome per op, in op order.

        Raises:
            Fatal: the binding names a field the object does not have, or has no external ID
                for an upsert; or the org refused the whole call.
            Retriable: a transient failure outlived the retries (the batch may be re-sent:
                every write is idempotent).
        """
        collect = await self.submit_batch(binding, ops)
        return await collect()

    async def submit_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
        """Hand ``ops`` over; the returned coroutine function gives their outcomes.

        Groups small enough for sObject Collections are written before this returns; a Bulk
        group returns once its job is uploaded and closed, so the org processes it while the
        caller does other work (:class:`~tandem.connectors.base.Submitter`). Raises as
        :meth:`write_batch`, here or from the coroutine.
        """
        try:
            return await self._submit(binding, ops)
        except Fatal:
            self.forget_schema(binding)
            raise

    def forget_schema(self, binding: EntityBinding) -> None:
        """Describe ``binding.source`` anew next time (the optional
        :class:`~tandem.connectors.base.SchemaCache` part of the contract): the engine's
        describe during a run, or a write refused as a whole, which may mean the object
        changed since it was described (a field removed)."""
        self._schemas.pop(binding.source, None)
        self._builders.pop(binding.source, None)

    async def _submit(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
        """:meth:`submit_batch`, which forgets the description when this raises ``Fatal``."""
        schema = await self.describe(binding)
        self.writer.check(binding, schema, ops)
        builder = self._builder(binding, schema)
        return await self.writer.submit(
            binding, builder, ops, self.read_records, self.forget_schema
        )

    def _builder(self, binding: EntityBinding, schema: EntitySchema) -> RecordBuilder:
        """The record builder of ``binding`` against ``schema``, kept while both stay."""
        builder = self._builders.get(binding.source)
        if builder is None or builder.schema is not schema or builder.binding != binding:
            builder = RecordBuilder(binding, schema)
            self._builders[binding.source] = builder
        return builder


def _check_names(binding: EntityBinding) -> None:
    """Refuse a binding whose object or field names are not SOQL identifiers."""
    names = {"source": binding.source, "key": binding.key, "external_id": binding.external_id}
    names |= {f"fields[{i}]": f for i, f in enumerate(binding.fields)}
    for where, name in names.items():
        if name is None:
            continue
        try:
            identifier(name)
        except ValueError as exc:
            raise ConfigError(str(exc), field=f"entities.{binding.name}.{where}") from None


def _merge_of(change: Change, row: Mapping[str, Any]) -> Change:
    """``change`` naming the record it was merged into, when the row is a merge's loser."""
    master = row.get(_MASTER) if change.deleted else None
    return replace(change, merged_into=str(master)) if master else change
