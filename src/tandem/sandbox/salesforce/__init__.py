"""The data core of the local Salesforce sandbox (``tandem sandbox crm``).

Storage, schema, validation and SOQL of a protocol-faithful local org; the HTTP layer builds on
:class:`Org`. Written from the API reference only: it shares no code with Tandem's Salesforce
connector, so the two cannot agree on the same mistake.
"""

from __future__ import annotations

from tandem.sandbox.salesforce.errors import ApiError, MultipleMatches, RecordError
from tandem.sandbox.salesforce.org import BulkRowResult, Org, QueryPage, SaveResult
from tandem.sandbox.salesforce.schema import FieldDef, ObjectDef, PicklistValue, Schema

__all__ = [
    "ApiError",
    "BulkRowResult",
    "FieldDef",
    "MultipleMatches",
    "ObjectDef",
    "Org",
    "PicklistValue",
    "QueryPage",
    "RecordError",
    "SaveResult",
    "Schema",
]
