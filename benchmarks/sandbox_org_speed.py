"""Quick speed check of the sandbox org's data core (no HTTP): collections upsert and Bulk ingest.

Run: ``.venv/bin/python benchmarks/sandbox_org_speed.py``. Prints timings; asserts nothing.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tandem.sandbox.salesforce import Org, Schema


def main() -> None:
    """Time 200-record collection upserts, a 20,000-row Bulk upsert and a 2,000-row query."""
    with tempfile.TemporaryDirectory() as tmp:
        org = Org(Path(tmp) / "org.db", Schema.load())
        for round_ in range(2):
            batches = 10
            start = time.perf_counter()
            for b in range(batches):
                records = [
                    {
                        "attributes": {"type": "Account"},
                        "Name": f"Acme {b}-{i} r{round_}",
                        "ERP_Id__c": f"E-{b}-{i}",
                        "BillingCity": "Berlin",
                        "Industry": "Banking",
                        "NumberOfEmployees": i,
                    }
                    for i in range(200)
                ]
                results = org.upsert_many("Account", "ERP_Id__c", records, all_or_none=False)
                assert all(r.success for r in results)
            per_call = (time.perf_counter() - start) / batches * 1000
            kind = "insert" if round_ == 0 else "update"
            print(f"collections upsert 200 ({kind}): {per_call:.1f} ms per call")
        rows = [
            {
                "Name": f"Bulk {i}",
                "ERP_Id__c": f"B-{i}",
                "BillingCity": "Paris",
                "AnnualRevenue": str(i * 10),
                "Industry": "Retail",
            }
            for i in range(20_000)
        ]
        for label in ("insert", "update"):
            start = time.perf_counter()
            out = org.bulk_ingest("Account", "upsert", "ERP_Id__c", rows)
            elapsed = time.perf_counter() - start
            assert all(r.error is None for r in out)
            print(f"bulk upsert 20,000 ({label}): {len(rows) / elapsed:,.0f} rows/s")
        start = time.perf_counter()
        page = org.query(
            "SELECT Id, Name, Owner.Name, BillingCity FROM Account WHERE Industry = 'Retail'",
            include_deleted=False,
            batch_size=2000,
            api_version="59.0",
        )
        while page.locator:
            page = org.query_more(page.locator, "59.0")
        print(f"query 20,000 rows in pages of 2,000: {(time.perf_counter() - start) * 1000:.0f} ms")
        org.close()


if __name__ == "__main__":
    main()
