"""Salesforce REST calls, and nothing else: snake_case outside, Salesforce camelCase inside.

:class:`SalesforceClient` owns the ``httpx.AsyncClient``, the shared transport (retries, error
table, secret filter), the authenticator and the quota governor, which reads
``Sforce-Limit-Info`` from every response. sObject Collections calls are cut into chunks of 200;
records that come back ``UNABLE_TO_LOCK_ROW`` are sent again, alone, with backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx

from tandem.connectors.clock import ClockOffset
from tandem.connectors.http import (
    Body,
    ErrorDetail,
    HttpTransport,
    ResolutionRule,
    RetryPolicy,
    SecretFilter,
    Sleep,
    wait_unless_stopping,
)
from tandem.connectors.quota import QuotaGovernor
from tandem.connectors.salesforce.auth import SalesforceAuthenticator
from tandem.connectors.salesforce.errors import (
    SALESFORCE_RULES,
    detail_from_item,
    parse_error,
    record_action,
)
from tandem.connectors.salesforce.settings import SalesforceSettings
from tandem.connectors.salesforce.values import dumps, parse_datetime
from tandem.errors import ConfigError, Fatal, Retriable, Stopping

__all__ = [
    "COLLECTION_LIMIT",
    "DeletedRecords",
    "QueryPage",
    "RecordError",
    "SalesforceClient",
    "SaveResult",
]

logger = logging.getLogger(__name__)

COLLECTION_LIMIT = 200
"""Records per sObject Collections call."""

_NOT_READY = ("JOB_NOT_COMPLETE", "INVALIDJOBSTATE")
_NOT_READY_RULES = (
    ResolutionRule("fatal", "job not complete", status=412),
    *(ResolutionRule("fatal", "job not complete", status_class=4, code=c) for c in _NOT_READY),
)


def _not_ready_error(response: httpx.Response) -> ErrorDetail:
    """:func:`parse_error`, reading any 412 as ``JOB_NOT_COMPLETE``."""
    detail = parse_error(response)
    if response.status_code == 412 and detail.code not in _NOT_READY:
        return ErrorDetail(_NOT_READY[0], detail.message, detail.fields)
    return detail


@dataclass(frozen=True, slots=True)
class RecordError:
    """One per-record error: ``statusCode``, message and the fields it names."""

    code: str | None
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SaveResult:
    """One record's result in a Collections (or Bulk) write."""

    id: str | None
    success: bool
    created: bool = False
    errors: tuple[RecordError, ...] = ()


@dataclass(frozen=True, slots=True)
class QueryPage:
    """One page of a SOQL query."""

    records: list[dict[str, Any]]
    total_size: int
    done: bool
    next_url: str | None


@dataclass(frozen=True, slots=True)
class DeletedRecords:
    """The answer of ``getDeleted``: ``(id, deleted_at)`` pairs and the window covered."""

    records: list[tuple[str, datetime]]
    earliest_available: datetime | None
    latest_covered: datetime | None


def _loads(response: httpx.Response) -> Any:
    # Decimal keeps every digit of currency values; callers turn doubles into float.
    return json.loads(response.content, parse_float=Decimal) if response.content else None


def _save_result(item: Mapping[str, Any] | None) -> SaveResult:
    if not isinstance(item, Mapping):
        return SaveResult(None, False, errors=(RecordError(None, "no result for this record"),))
    errors = tuple(
        RecordError(d.code, d.message, d.fields)
        for d in (detail_from_item(e) for e in item.get("errors") or ())
    )
    return SaveResult(
        str(item["id"]) if item.get("id") else None,
        bool(item.get("success")),
        bool(item.get("created")),
        errors,
    )


def _is_transient(result: SaveResult) -> bool:
    return not result.success and any(record_action(e.code) == "retry" for e in result.errors)


def _tls_verify(ca_file: Path | None) -> ssl.SSLContext | bool:
    """What TLS trusts: the system's CAs, or the bundle of ``ca_file``.

    Raises:
        ConfigError: ``ca_file`` cannot be read or holds no PEM certificate (the field named).
    """
    if ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except ssl.SSLError:
        reason = "it holds no PEM certificate"
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
    raise ConfigError(f"ca_file {ca_file} cannot be used as a CA bundle: {reason}", field="ca_file")


def _sf_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


class SalesforceClient:
    """The Salesforce REST API, as async calls.

    Args:
        settings: connector settings.
        http_transport: an ``httpx`` transport (tests pass ``httpx.MockTransport``).
        sleep: the sleep function used for backoff and waiting (tests inject a fake).
        rng: the jitter source.
    """

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        verify = _tls_verify(settings.ca_file)
        self.clock = ClockOffset()
        self.http = httpx.AsyncClient(
            timeout=settings.timeout,
            verify=verify,
            transport=http_transport,
            event_hooks={"response": [self._note_date]},
        )
        self.governor = QuotaGovernor(
            settings.quota_reserve,
            on_reserve=settings.on_quota_reserve,
            probe=self._probe_limits,
            sleep=sleep,
        )
        self.policy = RetryPolicy(settings.max_retries, settings.backoff_base, settings.backoff_cap)
        self.transport = HttpTransport(
            self.http,
            system="salesforce",
            rules=SALESFORCE_RULES,
            parse_error=parse_error,
            policy=self.policy,
            gate=self.governor,
            sleep=sleep,
            rng=rng,
            headers={
                "Accept": "application/json",
                "Sforce-Call-Options": f"client={settings.client_name}",
            },
        )
        self.auth = SalesforceAuthenticator(settings, self.transport)
        self.transport.auth = self.auth
        self.transport.redact = SecretFilter(self.auth.secrets)

    async def _note_date(self, response: httpx.Response) -> None:
        """Learn the org's clock from the ``Date`` header every answer carries."""
        stamp = response.headers.get("date")
        if not stamp:
            return
        try:
            when = parsedate_to_datetime(stamp)
        except (TypeError, ValueError):
            return
        self.clock.note(when)

    @property
    def redact(self) -> SecretFilter:
        """The secret filter (configured secrets plus the current token)."""
        return self.transport.redact

    async def login(self) -> None:
        """Authenticate now (otherwise the first call does)."""
        await self.auth.headers()

    def prefetch_login(self) -> None:
        """Start authenticating in the background; the first call waits for the token."""
        self.auth.prefetch()

    async def aclose(self) -> None:
        """Stop a login under way and close the HTTP connections."""
        await self.auth.aclose()
        await self.http.aclose()

    def url(self, path: str) -> str:
        """Absolute URL of a REST path (``query``) or a server path (``/services/...``)."""
        if path.startswith("/"):
            return f"{self.auth.instance_url}{path}"
        return f"{self.auth.instance_url}/services/data/v{self.settings.api_version}/{path}"

    async def send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content: Body | None = None,
        headers: Mapping[str, str] | None = None,
        record: str | None = None,
    ) -> httpx.Response:
        """One REST call through the transport (JSON ``body`` or raw ``content``)."""
        await self.auth.headers()  # the instance URL comes with the first token
        sent = dict(headers or {})
        if body is not None:
            content = dumps(body)
            sent.setdefault("Content-Type", "application/json")
        return await self.transport.request(
            method,
            self.url(path),
            operation=operation,
            params=params,
            content=content,
            headers=sent,
            record=record,
        )

    async def call(self, method: str, path: str, *, operation: str, **kwargs: Any) -> Any:
        """:meth:`send`, returning the parsed JSON body (``None`` when empty)."""
        return _loads(await self.send(method, path, operation=operation, **kwargs))

    async def job_result(
        self, path: str, *, operation: str, headers: Mapping[str, str] | None = None
    ) -> httpx.Response | None:
        """GET a Bulk job's result file; ``None`` while the job is still being processed.

        Salesforce answers ``412 JOB_NOT_COMPLETE`` (or a 4xx ``INVALIDJOBSTATE``) before the
        job ended. Asking that early is deliberate (the answer doubles as a poll), so it is
        neither retried nor logged; it costs one API call like any other answer.
        """
        await self.auth.headers()
        try:
            return await self.transport.request(
                "GET",
                self.url(path),
                operation=operation,
                headers=headers,
                rules=_NOT_READY_RULES + self.transport.rules,
                parse_error=_not_ready_error,
            )
        except Fatal as exc:
            if exc.code in _NOT_READY:
                return None
            raise

    # --- query -----------------------------------------------------------------------------

    async def query(self, soql: str, *, include_deleted: bool = False) -> QueryPage:
        """The first page of a SOQL query (``queryAll`` includes deleted rows)."""
        resource = "queryAll" if include_deleted else "query"
        body = await self.call(
            "GET",
            resource,
            operation=resource,
            params={"q": soql},
            headers={"Sforce-Query-Options": f"batchSize={self.settings.query_batch_size}"},
        )
        return self._page(body)

    async def query_more(self, next_url: str) -> QueryPage:
        """The page behind a ``nextRecordsUrl``."""
        return self._page(await self.call("GET", next_url, operation="queryMore"))

    async def query_pages(
        self, soql: str, *, include_deleted: bool = False
    ) -> AsyncIterator[QueryPage]:
        """Every page of a query, one at a time (bounded memory)."""
        page = await self.query(soql, include_deleted=include_deleted)
        yield page
        while not page.done and page.next_url:
            page = await self.query_more(page.next_url)
            yield page

    async def query_all(
        self, soql: str, *, include_deleted: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        """Every record of a query, one at a time (``queryAll`` when ``include_deleted``)."""
        async for page in self.query_pages(soql, include_deleted=include_deleted):
            for record in page.records:
                yield record

    @staticmethod
    def _page(body: Any) -> QueryPage:
        if not isinstance(body, Mapping):
            raise Fatal("query answered without a result", system="salesforce", operation="query")
        records = [
            {k: v for k, v in r.items() if k != "attributes"} for r in body.get("records") or ()
        ]
        return QueryPage(
            records,
            int(body.get("totalSize") or 0),
            bool(body.get("done", True)),
            body.get("nextRecordsUrl"),
        )

    # --- metadata --------------------------------------------------------------------------

    async def describe(self, sobject: str) -> dict[str, Any]:
        """``GET sobjects/{sobject}/describe``."""
        body = await self.call(
            "GET", f"sobjects/{sobject}/describe", operation=f"describe {sobject}"
        )
        return dict(body)

    async def limits(self, *, governed: bool = True) -> dict[str, Any]:
        """``GET limits/``; also feeds ``DailyApiRequests`` to the quota governor."""
        await self.auth.headers()
        response = await self.transport.request(
            "GET", self.url("limits/"), operation="limits", governed=governed
        )
        body = dict(_loads(response))
        daily = body.get("DailyApiRequests")
        if isinstance(daily, Mapping) and "Max" in daily and "Remaining" in daily:
            maximum = int(daily["Max"])
            self.governor.update(maximum - int(daily["Remaining"]), maximum)
        return body

    async def _probe_limits(self) -> None:
        await self.limits(governed=False)

    # --- sObject Collections ---------------------------------------------------------------

    async def create(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[SaveResult]:
        """Insert records (``POST composite/sobjects``), 200 per call."""
        return await self._collection(
            "POST", "composite/sobjects", sobject, records, f"create {sobject}"
        )

    async def update(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[SaveResult]:
        """Update records by ``Id`` (``PATCH composite/sobjects``), 200 per call."""
        return await self._collection(
            "PATCH", "composite/sobjects", sobject, records, f"update {sobject}"
        )

    async def upsert(
        self, sobject: str, external_id: str, records: Sequence[Mapping[str, Any]]
    ) -> list[SaveResult]:
        """Upsert by an external-ID field (``PATCH composite/sobjects/{obj}/{field}``)."""
        return await self._collection(
            "PATCH",
            f"composite/sobjects/{sobject}/{external_id}",
            sobject,
            records,
            f"upsert {sobject}",
        )

    async def delete(self, ids: Sequence[str], *, sobject: str = "") -> list[SaveResult]:
        """Delete records by Id (``DELETE composite/sobjects?ids=``), 200 per call."""
        operation = f"delete {sobject}".strip()
        results: list[SaveResult] = []
        for start in range(0, len(ids), COLLECTION_LIMIT):
            chunk = list(ids[start : start + COLLECTION_LIMIT])
            results.extend(await self._with_lock_retry(chunk, operation, self._delete_once))
        return results

    async def retrieve(
        self, sobject: str, ids: Sequence[str], fields: Sequence[str]
    ) -> list[dict[str, Any] | None]:
        """Records by Id (``GET composite/sobjects/{obj}?ids=&fields=``); ``None`` if absent."""
        out: list[dict[str, Any] | None] = []
        for start in range(0, len(ids), COLLECTION_LIMIT):
            chunk = ids[start : start + COLLECTION_LIMIT]
            body = await self.call(
                "GET",
                f"composite/sobjects/{sobject}",
                operation=f"retrieve {sobject}",
                params={"ids": ",".join(chunk), "fields": ",".join(fields)},
            )
            for item in body or ():
                out.append(
                    {k: v for k, v in item.items() if k != "attributes"}
                    if isinstance(item, Mapping)
                    else None
                )
        return out

    async def _collection(
        self,
        method: str,
        path: str,
        sobject: str,
        records: Sequence[Mapping[str, Any]],
        operation: str,
    ) -> list[SaveResult]:
        typed = [{"attributes": {"type": sobject}, **r} for r in records]
        results: list[SaveResult] = []

        async def once(chunk: list[dict[str, Any]]) -> list[SaveResult]:
            body = await self.call(
                method, path, operation=operation, body={"allOrNone": False, "records": chunk}
            )
            return self._results(body, len(chunk), operation)

        for start in range(0, len(typed), COLLECTION_LIMIT):
            chunk = typed[start : start + COLLECTION_LIMIT]
            results.extend(await self._with_lock_retry(chunk, operation, once))
        return results

    async def _delete_once(self, chunk: list[str]) -> list[SaveResult]:
        body = await self.call(
            "DELETE",
            "composite/sobjects",
            operation="delete",
            params={"ids": ",".join(chunk), "allOrNone": "false"},
        )
        return self._results(body, len(chunk), "delete")

    @staticmethod
    def _results(body: Any, expected: int, operation: str) -> list[SaveResult]:
        if not isinstance(body, list) or len(body) != expected:
            raise Retriable(
                f"expected {expected} results, got "
                f"{len(body) if isinstance(body, list) else type(body).__name__}",
                system="salesforce",
                operation=operation,
            )
        return [_save_result(item) for item in body]

    async def _with_lock_retry(
        self, chunk: list[Any], operation: str, once: Any
    ) -> list[SaveResult]:
        """Send ``chunk``; send again only the records that failed transiently."""
        results: list[SaveResult] = await once(chunk)
        for attempt in range(self.policy.max_retries + 1):
            pending = [i for i, r in enumerate(results) if _is_transient(r)]
            if not pending:
                return results
            if attempt == self.policy.max_retries:
                break
            wait = self.policy.delay(attempt, None, self.transport.rng)
            logger.warning(
                "salesforce %s: %d of %d record(s) failed transiently; resending them in %.2fs",
                operation,
                len(pending),
                len(chunk),
                wait,
            )
            if not await wait_unless_stopping(self.sleep, wait):
                raise Stopping(
                    f"{len(pending)} record(s) failed transiently; not resent: the agent is "
                    "stopping",
                    system="salesforce",
                    operation=operation,
                )
            again = await once([chunk[i] for i in pending])
            for i, result in zip(pending, again, strict=True):
                results[i] = result
        codes = sorted({str(e.code) for r in results if _is_transient(r) for e in r.errors})
        raise Retriable(
            f"{len(pending)} record(s) still failing transiently ({', '.join(codes)})",
            system="salesforce",
            operation=operation,
            code=codes[0] if codes else None,
        )

    # --- replication -----------------------------------------------------------------------

    async def get_updated(self, sobject: str, start: datetime, end: datetime) -> list[str]:
        """Ids of records updated in ``[start, end]`` (``sobjects/{obj}/updated``)."""
        body = await self.call(
            "GET",
            f"sobjects/{sobject}/updated/",
            operation=f"getUpdated {sobject}",
            params={"start": _sf_time(start), "end": _sf_time(end)},
        )
        return [str(i) for i in (body or {}).get("ids") or ()]

    async def get_deleted(self, sobject: str, start: datetime, end: datetime) -> DeletedRecords:
        """Records deleted in ``[start, end]`` (``sobjects/{obj}/deleted``), purged ones too."""
        body = await self.call(
            "GET",
            f"sobjects/{sobject}/deleted/",
            operation=f"getDeleted {sobject}",
            params={"start": _sf_time(start), "end": _sf_time(end)},
        )
        body = body or {}

        def when(key: str) -> datetime | None:
            value = body.get(key)
            return parse_datetime(value) if isinstance(value, str) and value else None

        records = [
            (str(r["id"]), parse_datetime(str(r["deletedDate"])))
            for r in body.get("deletedRecords") or ()
            if isinstance(r, Mapping) and r.get("id") and r.get("deletedDate")
        ]
        return DeletedRecords(records, when("earliestDateAvailable"), when("latestDateCovered"))
