"""The peers of the engine load benchmark: two simple-salesforce scripts doing Tandem's job.

* ``loop`` (peer a): one ``sf.Account.upsert("ERP_Id__c/<id>", {...})`` per ERP row, the way
  many hand-written integrations start.
* ``bulk`` (peer b, Bulk 2.0): a well-written batched script: every row (or every row the
  ERP's change log lists after a sequence number) in one Bulk API 2.0 upsert job
  (``sf.bulk2.Account.upsert``), failed rows fetched only when the job reports some.
* ``collections`` (peer b, Collections): the other batched script the issue names: rows
  streamed from the ERP in sObject Collections upserts by external ID, 200 records a call
  (the API's maximum), ``allOrNone`` false so one bad row does not sink its 199 neighbours.

Both read the same SQLite ERP as Tandem and map the same fields. Run as a script (so the
benchmark measures it as a process, like ``tandem sync``)::

    python benchmarks/load_peers.py loop|bulk|collections --sandbox DIR/sandbox.json --erp ERP.db
        [--first N] [--after-seq S] [--keys 1,2,3] [--wait 5]

It prints one JSON object: ``records``, ``failed`` and ``seconds`` (inside the process).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import sqlalchemy as sa
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce  # type: ignore[attr-defined]

COUNTRIES = {"PL": "Poland", "DE": "Germany", "CZ": "Czechia"}
COLUMNS = "id, number, name, nip, phone, street, city, postal_code, country_code"


class _ToSandbox(HTTPAdapter):
    """Sends ``*.salesforce.com`` (simple-salesforce's login host) to the sandbox."""

    def __init__(self, base_url: str, ca_file: str) -> None:
        super().__init__()
        self.netloc = urlsplit(base_url).netloc
        self.ca_file = ca_file

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(str(request.url))
        if parts.hostname and parts.hostname.endswith(".salesforce.com"):
            request.url = urlunsplit(parts._replace(netloc=self.netloc))
        kwargs["verify"] = self.ca_file
        return super().send(request, *args, **kwargs)


def connect(sandbox_json: Path) -> Any:
    """Log in to the sandbox with simple-salesforce (OAuth username-password flow).

    Typed ``Any``: simple-salesforce builds ``sf.Account`` / ``sf.bulk2.Account`` dynamically.
    """
    cfg = json.loads(sandbox_json.read_text(encoding="utf-8"))
    session = requests.Session()
    session.mount("https://", _ToSandbox(cfg["base_url"], cfg["ca_file"]))
    return Salesforce(
        username=cfg["username"],
        password=cfg["password"],
        consumer_key=cfg["client_id"],
        consumer_secret=cfg["client_secret"],
        session=session,
        version="59.0",
    )


def erp_rows(
    erp: Path,
    *,
    first: int | None = None,
    after_seq: int | None = None,
    keys: Sequence[int] | None = None,
) -> Iterator[dict[str, Any]]:
    """Customers to send: all, the ``first`` N, those changed after ``after_seq`` or ``keys``."""
    sql = f"SELECT {COLUMNS} FROM customers"
    params: dict[str, Any] = {}
    if after_seq is not None:
        sql += (
            " WHERE CAST(id AS TEXT) IN (SELECT row_key FROM tandem_changelog "
            "WHERE table_name = 'customers' AND op != 'D' AND seq > :after)"
        )
        params["after"] = after_seq
    elif keys is not None:
        sql += f" WHERE id IN ({', '.join(str(int(k)) for k in keys)})"
    sql += " ORDER BY id"
    if first is not None:
        sql += " LIMIT :first"
        params["first"] = first
    engine = sa.create_engine(f"sqlite:///{erp}")
    try:
        with engine.connect() as conn:
            for row in conn.execute(sa.text(sql), params).mappings():
                yield dict(row)
    finally:
        engine.dispose()


def to_account(row: dict[str, Any]) -> dict[str, Any]:
    """The Account fields of one ERP row (the same mapping as Tandem's flow)."""
    return {
        "Name": row["name"],
        "AccountNumber": row["number"],
        "Tax_Id__c": row["nip"],
        "Phone": row["phone"],
        "BillingStreet": row["street"],
        "BillingCity": row["city"],
        "BillingPostalCode": row["postal_code"],
        "BillingCountry": COUNTRIES.get(row["country_code"], row["country_code"]),
    }


def peer_loop(sf: Any, rows: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Peer (a): one REST upsert per record."""
    sent = failed = 0
    started = time.perf_counter()
    for row in rows:
        try:
            sf.Account.upsert(f"ERP_Id__c/{row['id']}", to_account(row))
        except Exception as exc:  # a real loop logs and goes on
            failed += 1
            print(f"customer {row['id']}: {exc}", file=sys.stderr)
        sent += 1
    return {"records": sent, "failed": failed, "seconds": time.perf_counter() - started}


def peer_bulk(sf: Any, rows: Iterator[dict[str, Any]], wait: int = 5) -> dict[str, Any]:
    """Peer (b): one Bulk API 2.0 upsert job; failed rows fetched only if there are any.

    Args:
        sf: the logged-in client.
        rows: the ERP rows to send.
        wait: simple-salesforce's ``wait``: seconds before the first poll and between polls
            (5 is the library's default).
    """
    started = time.perf_counter()
    records = [{"ERP_Id__c": str(row["id"]), **to_account(row)} for row in rows]
    if not records:
        return {"records": 0, "failed": 0, "seconds": time.perf_counter() - started, "jobs": 0}
    results = sf.bulk2.Account.upsert(records=records, external_id_field="ERP_Id__c", wait=wait)
    failed = 0
    for job in results:
        failed += int(job["numberRecordsFailed"])
        if job["numberRecordsFailed"]:
            print(sf.bulk2.Account.get_failed_records(job["job_id"])[:2000], file=sys.stderr)
    return {
        "records": len(records),
        "failed": failed,
        "seconds": time.perf_counter() - started,
        "jobs": len(results),
    }


COLLECTION_SIZE = 200
"""sObject Collections take at most 200 records a call."""


def peer_collections(sf: Any, rows: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Peer (b), Collections: upserts by ``ERP_Id__c`` of 200 records a call, rows streamed."""
    started = time.perf_counter()
    sent = failed = calls = 0
    chunk: list[dict[str, Any]] = []

    def flush() -> int:
        body = {"allOrNone": False, "records": chunk}
        results = sf.restful("composite/sobjects/Account/ERP_Id__c", method="PATCH", json=body)
        bad = [r for r in results if not r.get("success")]
        for result in bad[:5]:
            print(f"upsert failed: {result.get('errors')}", file=sys.stderr)
        return len(bad)

    for row in rows:
        record = {"attributes": {"type": "Account"}, "ERP_Id__c": str(row["id"])}
        record.update(to_account(row))
        chunk.append(record)
        if len(chunk) == COLLECTION_SIZE:
            failed += flush()
            sent, calls, chunk = sent + len(chunk), calls + 1, []
    if chunk:
        failed += flush()
        sent, calls = sent + len(chunk), calls + 1
    return {
        "records": sent,
        "failed": failed,
        "seconds": time.perf_counter() - started,
        "calls": calls,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run one peer once and print its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("peer", choices=("loop", "bulk", "collections"))
    parser.add_argument("--sandbox", type=Path, required=True, help="the sandbox.json")
    parser.add_argument("--erp", type=Path, required=True, help="the SQLite ERP")
    parser.add_argument("--first", type=int, help="only the first N customers (by id)")
    parser.add_argument("--after-seq", type=int, help="only rows changed after this seq")
    parser.add_argument("--keys", help="only these ids (comma-separated)")
    parser.add_argument("--wait", type=int, default=5, help="bulk: seconds between polls")
    args = parser.parse_args(argv)
    keys = [int(k) for k in args.keys.split(",")] if args.keys else None
    sf = connect(args.sandbox)
    rows = erp_rows(args.erp, first=args.first, after_seq=args.after_seq, keys=keys)
    if args.peer == "loop":
        result = peer_loop(sf, rows)
    elif args.peer == "collections":
        result = peer_collections(sf, rows)
    else:
        result = peer_bulk(sf, rows, args.wait)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
