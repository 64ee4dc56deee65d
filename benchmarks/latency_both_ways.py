"""Change latency in both directions under ``tandem run``: ERP -> CRM and CRM -> ERP.

The issue asks that an edit on either side arrives within 2 s. ``engine_load.py`` times ERP
edits only (its flow is one-way); this flow syncs customers both ways, every field editable
on either side (``owner: both``). After an initial
``tandem sync``, ``tandem run`` is started and edits are made one at a time, alternating: a
phone changed in the ERP's table, timed until the CRM's API shows it; a phone changed through
the CRM's REST API, timed until the ERP's table holds it. The first edit each way is a warm-up.

Run: ``.venv/bin/python benchmarks/latency_both_ways.py [--rtt-ms 30] [--samples 30]``.
Prints the table and writes ``benchmarks/results/latency_both_ways.json``; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from load_kit import SandboxProcess, create_erp, erp_url, machine_info
from load_tandem import TandemTuning, tandem_running, tandem_sync, write_flow

RESULTS = Path(__file__).parent / "results" / "latency_both_ways.json"
TIMEOUT_S = 60.0


def two_way_flow(folder: Path, erp: Path, crm: SandboxProcess) -> Path:
    """The benchmark's customer flow, made two-way (the ERP keeps the CRM's Id in crm_id)."""
    config = write_flow(folder, erp, crm, TandemTuning())
    text = config.read_text(encoding="utf-8")
    keyed = "erp: {source: customers, key: id, external_id: crm_id}"
    for old, new in (
        ("direction: erp_to_crm", "direction: both\n    owner: both"),
        ("erp: {source: customers, key: id}", keyed),
    ):
        if old not in text:
            raise RuntimeError(f"the benchmark flow changed: {old!r} not found")
        text = text.replace(old, new)
    config.write_text(text, encoding="utf-8")
    return config


def wait_until(seen: Callable[[], bool], what: str) -> float:
    """Milliseconds until ``seen()`` holds (polled every 20 ms)."""
    started = time.perf_counter()
    while not seen():
        if time.perf_counter() - started > TIMEOUT_S:
            raise RuntimeError(f"{what} not seen within {TIMEOUT_S:.0f} s")
        time.sleep(0.02)
    return (time.perf_counter() - started) * 1000


def measure(folder: Path, records: int, samples: int, rtt_ms: float) -> dict[str, Any]:
    """Sync ``records`` customers once, then time ``samples`` edits each way under ``run``."""
    erp = folder / "erp.db"
    create_erp(erp, records)
    engine = sa.create_engine(erp_url(erp))
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE customers ADD COLUMN crm_id VARCHAR(18)"))
    rng = random.Random(11)
    keys = rng.sample(range(1, records + 1), 2 * (samples + 1))
    latencies: dict[str, list[float]] = {"erp_to_crm": [], "crm_to_erp": []}
    with SandboxProcess(folder / "crm", folder / "crm_schema.yaml", rtt_ms) as crm:
        config = two_way_flow(folder, erp, crm)
        tandem_sync(config, crm)
        try:
            with tandem_running(config), crm.api() as api:
                for n in range(samples + 1):
                    erp_key, crm_key = keys[2 * n], keys[2 * n + 1]
                    sample = _erp_edit(engine, api, erp_key, n)
                    if n:
                        latencies["erp_to_crm"].append(sample)
                    time.sleep(rng.uniform(0.1, 0.6))  # spaced: edits land at random phases
                    sample = _crm_edit(engine, api, crm_key, n)
                    if n:
                        latencies["crm_to_erp"].append(sample)
                    time.sleep(rng.uniform(0.1, 0.6))
        finally:
            engine.dispose()
    return {direction: summary(values) for direction, values in latencies.items()}


def _erp_edit(engine: sa.Engine, api: httpx.Client, key: int, n: int) -> float:
    phone = f"+48 800 {n:03d} {key:05d}"
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE customers SET phone = :p WHERE id = :k"), {"p": phone, "k": key}
        )
    soql = f"SELECT Phone FROM Account WHERE ERP_Id__c = '{key}'"

    def seen() -> bool:
        rows = api.get("query/", params={"q": soql}).json()["records"]
        return bool(rows) and rows[0]["Phone"] == phone

    return wait_until(seen, f"ERP edit of customer {key} in the CRM")


def _crm_edit(engine: sa.Engine, api: httpx.Client, key: int, n: int) -> float:
    phone = f"+48 900 {n:03d} {key:05d}"
    soql = f"SELECT Id FROM Account WHERE ERP_Id__c = '{key}'"
    account = api.get("query/", params={"q": soql}).json()["records"][0]["Id"]
    api.patch(f"sobjects/Account/{account}", json={"Phone": phone}).raise_for_status()

    def seen() -> bool:
        with engine.connect() as conn:
            value = conn.execute(
                sa.text("SELECT phone FROM customers WHERE id = :k"), {"k": key}
            ).scalar()
        return value == phone

    return wait_until(seen, f"CRM edit of account {account} in the ERP")


def summary(values: list[float]) -> dict[str, Any]:
    """p50, p99 (nearest rank), max and mean of the samples, in ms."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(0.99 * len(ordered))))
    return {
        "samples": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[rank - 1], 1),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(statistics.fmean(ordered), 1),
    }


def main() -> None:
    """Parse options, measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tandem-latency-"))
    try:
        result = measure(folder, args.records, args.samples, args.rtt_ms)
    except Exception:
        run_log = folder / "run.log"
        if run_log.exists():
            print(run_log.read_text(encoding="utf-8", errors="replace")[-3000:])
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    data = {
        "benchmark": "latency_both_ways",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(),
        "records": args.records,
        "rtt_ms": args.rtt_ms,
        "poll_seconds": 1.0,
        "latency": result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print("| Direction | Samples | p50 (ms) | p99 (ms) | max (ms) | mean (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for direction, row in result.items():
        label = direction.replace("_to_", " -> ").upper()
        print(
            f"| {label} | {row['samples']} | {row['p50_ms']:,.0f} | {row['p99_ms']:,.0f} "
            f"| {row['max_ms']:,.0f} | {row['mean_ms']:,.0f} |"
        )
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
