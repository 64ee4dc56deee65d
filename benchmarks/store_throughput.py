"""Throughput of the state store on the pipeline's hot path.

Simulates an initial load: for every delivered batch of ``--batch`` records, one transaction
links them, saves their synced state, moves the cursor and writes their audit entries; then
reads links and states back in bulk, and streams every state with ``iter_synced``.

Usage::

    .venv/bin/python benchmarks/store_throughput.py                      # SQLite in a temp dir
    .venv/bin/python benchmarks/store_throughput.py --records 100000
    .venv/bin/python benchmarks/store_throughput.py --batch 20000        # one 20,000-record batch
    .venv/bin/python benchmarks/store_throughput.py --url postgresql+psycopg://postgres@127.0.0.1/bench

The PostgreSQL/MariaDB database must exist; the benchmark uses a fresh entity name each run.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from tandem import codec
from tandem.connectors.base import Cursor
from tandem.store import AuditEntry, StateStore, SyncedState

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def values(i: int) -> dict[str, object]:
    """A customer-sized record: about 12 fields, money as Decimal, a date."""
    return {
        "name": f"Customer {i} Sp. z o.o.",
        "tax_id": f"PL{5260000000 + i}",
        "email": f"office{i}@example.com",
        "phone": f"+48 22 {i:07d}",
        "street": f"ul. Prosta {i % 200}",
        "city": "Warszawa",
        "postal_code": f"{i % 100:02d}-{i % 1000:03d}",
        "country": "PL",
        "credit_limit": Decimal(i % 50_000) / 100,
        "currency": "PLN",
        "since": (T0 - timedelta(days=i % 3000)).date(),
        "active": i % 7 != 0,
    }


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="store URL (default: SQLite file in a temp dir)")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.url or f"sqlite:///{Path(tmp.name) / 'state.db'}"
    store = StateStore(url, auto_migrate=True)
    entity = f"bench_{uuid.uuid4().hex[:8]}"
    flow = entity

    batch_ms: list[float] = []
    start = time.perf_counter()
    for first in range(0, args.records, args.batch):
        ids = range(first, min(first + args.batch, args.records))
        states = [
            SyncedState(entity, str(i), f"001{i:015d}", values(i), T0, T0 + timedelta(seconds=i))
            for i in ids
        ]
        audit = [
            AuditEntry(
                flow,
                entity,
                "crm",
                s.crm_key or "",
                "create",
                None,
                s.values,
                f"erp:{entity}:{s.erp_key}",
            )
            for s in states
        ]
        began = time.perf_counter()
        # As the pipeline's commit: a state and its audit entry share one dict, encoded once.
        with store.transaction(), codec.encode_once():
            store.link_many(entity, [(s.erp_key or "", s.crm_key or "") for s in states])
            store.save_synced(states)
            store.set_cursor(flow, entity, "erp", Cursor(T0, str(ids[-1])))
            store.audit(audit)
        batch_ms.append((time.perf_counter() - began) * 1000)
    load_s = time.perf_counter() - start

    # Plain state update of 200 known records in one transaction (the steady-state path).
    update_ms: list[float] = []
    for round_ in range(20):
        base = (round_ * args.batch) % max(args.records - args.batch, 1)
        states = [
            SyncedState(entity, str(i), f"001{i:015d}", values(i + 1), T0, T0)
            for i in range(base, base + args.batch)
        ]
        began = time.perf_counter()
        with store.transaction():
            store.save_synced(states)
        update_ms.append((time.perf_counter() - began) * 1000)

    keys = [str(i) for i in range(0, min(args.records, 5000))]
    began = time.perf_counter()
    found = store.partners(entity, "erp", keys)
    partners_ms = (time.perf_counter() - began) * 1000
    assert len(found) == len(keys)
    began = time.perf_counter()
    synced = store.synced(entity, "erp", keys[: args.batch])
    synced_ms = (time.perf_counter() - began) * 1000
    assert len(synced) == min(args.batch, len(keys))
    began = time.perf_counter()
    streamed = sum(len(b) for b in store.iter_synced(entity, batch=1000))
    iter_s = time.perf_counter() - began
    assert streamed == args.records
    store.close()
    tmp.cleanup()

    print(
        f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, backend {url.split(':')[0]}"
    )
    print(
        f"initial load: {args.records} records in batches of {args.batch}: {load_s:.1f} s, "
        f"{args.records / load_s:,.0f} records/s (link + state + cursor + audit per batch)"
    )
    p95 = statistics.quantiles(batch_ms, n=20)[-1] if len(batch_ms) > 1 else batch_ms[0]
    print(f"  per batch: median {statistics.median(batch_ms):.1f} ms, p95 {p95:.1f} ms")
    print(
        f"save_synced of {args.batch} existing records in one transaction: "
        f"median {statistics.median(update_ms):.1f} ms"
    )
    print(
        f"partners() of {len(keys)} keys: {partners_ms:.1f} ms; "
        f"synced() of {args.batch} keys: {synced_ms:.1f} ms"
    )
    print(f"iter_synced over {streamed} states: {iter_s:.1f} s")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
