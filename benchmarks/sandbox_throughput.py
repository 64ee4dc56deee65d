"""Throughput of the CRM sandbox: sObject Collections upserts and Bulk API 2.0 ingest.

By default the sandbox runs as ``tandem sandbox crm`` in a subprocess pinned to one CPU core
(``taskset -c 0`` where available), and this script drives it over HTTPS with httpx from the
other core, so the numbers are the sandbox's, not the client's. ``--in-process`` runs it in a
thread of this process instead (client and server then share one interpreter).

Usage::

    .venv/bin/python benchmarks/sandbox_throughput.py [--records 20000] [--bulk-records 100000]
        [--concurrency 2] [--in-process]

It prints records/s for both paths and the machine it ran on. Targets (issue #2): at least
5,000 records/s through Collections upserts and 20,000 records/s through Bulk 2.0 ingest.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from load_kit import machine_info

VERSION = "59.0"


@dataclass
class Target:
    """Where the sandbox is and how to authenticate."""

    base_url: str
    ca_file: str
    token: str


def _token(base_url: str, ca_file: str, saved: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{base_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": saved["client_id"],
            "client_secret": saved["client_secret"],
        },
        verify=ssl.create_default_context(cafile=ca_file),
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@contextlib.contextmanager
def subprocess_sandbox(data_dir: Path, pin: bool) -> Iterator[Target]:
    """Start ``tandem sandbox crm`` (pinned to core 0 when possible) and yield its target."""
    command = [sys.executable, "-m", "tandem.sandbox.cli", "crm", "--port", "0"]
    command += ["--data", str(data_dir), "--daily-limit", "100000000"]
    if pin and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "0", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.1)
            if not (data_dir / "sandbox.json").exists():
                continue
            saved = json.loads((data_dir / "sandbox.json").read_text())
            try:
                token = _token(saved["base_url"], saved["ca_file"], saved)
            except httpx.HTTPError:
                continue
            yield Target(saved["base_url"], saved["ca_file"], token)
            return
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


@contextlib.contextmanager
def in_process_sandbox(data_dir: Path) -> Iterator[Target]:
    """Run the sandbox in a thread of this process."""
    from tandem.sandbox.salesforce.server import running_sandbox

    with running_sandbox(data_dir, daily_limit=100_000_000) as handle:
        yield Target(handle.base_url, str(handle.ca_file), handle.issue_token())


def _client(target: Target) -> httpx.Client:
    return httpx.Client(
        base_url=f"{target.base_url}/services/data/v{VERSION}/",
        verify=ssl.create_default_context(cafile=target.ca_file),
        headers={"Authorization": f"Bearer {target.token}"},
        timeout=300,
    )


def collections_upserts(target: Target, records: int, concurrency: int, tag: str) -> float:
    """Upsert ``records`` Accounts by ERP_Id__c, 200 per call; returns records/s."""
    batches = [
        [
            {"attributes": {"type": "Account"}, "Name": f"Bench {n}", "ERP_Id__c": f"{tag}-{n}"}
            for n in range(start, min(start + 200, records))
        ]
        for start in range(0, records, 200)
    ]
    clients = [_client(target) for _ in range(concurrency)]

    def send(index: int) -> int:
        client = clients[index % concurrency]
        answer = client.patch(
            "composite/sobjects/Account/ERP_Id__c",
            json={"allOrNone": False, "records": batches[index]},
        )
        answer.raise_for_status()
        return sum(1 for result in answer.json() if result["success"])

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        saved = sum(pool.map(send, range(len(batches))))
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    if saved != records:
        raise RuntimeError(f"only {saved} of {records} records were saved")
    return records / elapsed


def bulk_ingest(target: Target, records: int, operation: str) -> float:
    """One Bulk 2.0 job of ``records`` Accounts, create to JobComplete; returns records/s."""
    tag = uuid.uuid4().hex[:8]
    lines = ["Name,ERP_Id__c,AccountNumber"]
    lines += [f"Bulk {n},{tag}-{n},{n}" for n in range(records)]
    data = ("\n".join(lines) + "\n").encode()
    spec: dict[str, Any] = {"object": "Account", "operation": operation, "contentType": "CSV"}
    if operation == "upsert":
        spec["externalIdFieldName"] = "ERP_Id__c"
    with _client(target) as api:
        started = time.perf_counter()
        job = api.post("jobs/ingest", json=spec).json()
        api.put(
            f"jobs/ingest/{job['id']}/batches", content=data, headers={"Content-Type": "text/csv"}
        ).raise_for_status()
        api.patch(f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"}).raise_for_status()
        while True:
            info = api.get(f"jobs/ingest/{job['id']}").json()
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    if info["state"] != "JobComplete" or info["numberRecordsFailed"]:
        raise RuntimeError(f"bulk job ended {info['state']}: {info}")
    return records / elapsed


def main() -> None:
    """Parse arguments, run both workloads, print the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000, help="Collections upserts")
    parser.add_argument("--bulk-records", type=int, default=100_000, help="Bulk ingest rows")
    parser.add_argument("--concurrency", type=int, default=2, help="Collections clients")
    parser.add_argument("--in-process", action="store_true", help="run the sandbox in a thread")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the server to core 0")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        data_dir = Path(tmp)
        runner = (
            in_process_sandbox(data_dir)
            if args.in_process
            else subprocess_sandbox(data_dir, pin=not args.no_pin)
        )
        with runner as target:
            tag = uuid.uuid4().hex[:8]
            collections_rate = collections_upserts(target, args.records, args.concurrency, tag)
            update_rate = collections_upserts(target, args.records, args.concurrency, tag)
            bulk_insert_rate = bulk_ingest(target, args.bulk_records, "insert")
            bulk_upsert_rate = bulk_ingest(target, args.bulk_records, "upsert")
    result = {
        "mode": "in-process" if args.in_process else "subprocess, server pinned to 1 core",
        "collections_upsert_records_per_s": round(collections_rate),
        "collections_upsert_update_records_per_s": round(update_rate),
        "bulk_insert_records_per_s": round(bulk_insert_rate),
        "bulk_upsert_records_per_s": round(bulk_upsert_rate),
        "records": args.records,
        "bulk_records": args.bulk_records,
        "concurrency": args.concurrency,
        "machine": machine_info(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"Sandbox throughput ({result['mode']})")
    rows = [
        ("Collections upsert, inserts", "collections_upsert_records_per_s"),
        ("Collections upsert, updates", "collections_upsert_update_records_per_s"),
        ("Bulk 2.0 ingest, insert", "bulk_insert_records_per_s"),
        ("Bulk 2.0 ingest, upsert", "bulk_upsert_records_per_s"),
    ]
    for label, key in rows:
        print(f"  {label:<30} {result[key]:>9,} records/s")
    print(f"  Machine: {json.dumps(result['machine'])}")


if __name__ == "__main__":
    main()
