"""Change probes: is there anything new in these objects? One Composite call for up to 25.

Each object gets ``SELECT COUNT(Id), MAX(SystemModstamp) FROM X WHERE SystemModstamp > :t``
through ``queryAll`` (so deletes count). A new or edited record raises the maximum; a record
that commits late with an older timestamp raises the count: either changes the fingerprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from tandem.connectors.base import EntityBinding
from tandem.connectors.salesforce.client import SalesforceClient
from tandem.connectors.salesforce.soql import identifier, soql_datetime

COMPOSITE_LIMIT = 25
"""Subrequests Salesforce accepts in one Composite call."""


def probe_soql(sobject: str, since: datetime) -> str:
    """The aggregate query that fingerprints ``sobject``'s changes after ``since``."""
    return (
        f"SELECT COUNT(Id), MAX(SystemModstamp) FROM {identifier(sobject)} "
        f"WHERE SystemModstamp > {soql_datetime(since)}"
    )


async def fingerprints(
    client: SalesforceClient, api_version: str, windows: Sequence[tuple[EntityBinding, datetime]]
) -> dict[str, str]:
    """Fingerprint of each binding's changes after its instant; a failed probe is left out."""
    found: dict[str, str] = {}
    for start in range(0, len(windows), COMPOSITE_LIMIT):
        chunk = windows[start : start + COMPOSITE_LIMIT]
        requests = [
            {
                "method": "GET",
                "referenceId": f"probe{n}",
                "url": f"/services/data/v{api_version}/queryAll?q="
                + quote_plus(probe_soql(binding.source, since)),
            }
            for n, (binding, since) in enumerate(chunk)
        ]
        body = await client.call(
            "POST",
            "composite",
            operation="probe changes",
            body={"allOrNone": False, "compositeRequest": requests},
        )
        answers = body.get("compositeResponse", []) if isinstance(body, dict) else []
        for (binding, _), answer in zip(chunk, answers, strict=False):
            fingerprint = _fingerprint(answer)
            if fingerprint is not None:
                found[binding.name] = fingerprint
    return found


def _fingerprint(answer: Any) -> str | None:
    if not isinstance(answer, dict) or answer.get("httpStatusCode") != 200:
        return None
    records = (answer.get("body") or {}).get("records") or []
    if not records:
        return None
    row = records[0]
    return f"{row.get('expr0')}/{row.get('expr1')}"


__all__ = ["COMPOSITE_LIMIT", "fingerprints", "probe_soql"]
