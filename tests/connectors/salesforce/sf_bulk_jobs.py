"""The Bulk ingest job the Salesforce connector tests hand over: an upsert of Accounts by
``ERP_Id__c``, rows ``[key, name]``. A plain module (imported by name, as ``sf_stubs``)."""

from __future__ import annotations

from collections.abc import Sequence

from tandem.connectors.salesforce.bulk import BulkApi, IngestJob
from tandem.connectors.salesforce.client import SaveResult

COLUMNS = ["ERP_Id__c", "Name"]
"""The CSV columns of the job."""

UPSERT: dict[str, str] = {"key_column": "ERP_Id__c", "external_id": "ERP_Id__c"}
"""The keyword arguments of an upsert by ``ERP_Id__c``."""


async def submit_upsert(bulk: BulkApi, rows: Sequence[Sequence[str]]) -> IngestJob:
    """Hand over the job (create, upload, close); :meth:`BulkApi.collect` gives its results."""
    return await bulk.submit("Account", "upsert", COLUMNS, rows, **UPSERT)


async def upsert(bulk: BulkApi, rows: Sequence[Sequence[str]]) -> list[SaveResult | None]:
    """Hand over the job and wait for its results."""
    return await bulk.ingest("Account", "upsert", COLUMNS, rows, **UPSERT)


__all__ = ["COLUMNS", "UPSERT", "submit_upsert", "upsert"]
