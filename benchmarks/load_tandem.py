"""The Tandem contender of the engine load benchmark: ``tandem sync`` and ``tandem run``.

:func:`write_flow` writes the benchmark's flow (one ``customer`` entity, ERP -> CRM, Account
upserted by ``ERP_Id__c``); :func:`tandem_sync` runs one ``tandem sync`` pass as a child
process and measures it; :func:`change_latency` runs ``tandem run`` and times single-row edits
until the CRM shows them.
"""

from __future__ import annotations

import json
import math
import random
import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from load_kit import TANDEM, Measured, SandboxProcess, changed_phone, erp_url, run_measured

FLOW = """\
version: 1
name: bench
state: sqlite:///{state}
connections:
  erp:
    type: sql
    url: {erp_url}
  crm:
    type: salesforce
    instance_url: {base_url}
    login_url: {base_url}
    ca_file: {ca_file}
    auth_flow: password
    username: {username}
    client_id: {client_id}
    password: {{file: secrets/sf_password}}
    client_secret: {{file: secrets/sf_client_secret}}
    bulk_threshold: {bulk_threshold}
defaults:
  batch_size: {batch_size}
  initial_batch_size: {initial_batch_size}
  schedule: {{mode: continuous, poll_seconds: 1.0}}
  overlap_seconds: 2
value_maps:
  countries:
    pairs: {{PL: Poland, DE: Germany, CZ: Czechia}}
entities:
  customer:
    model: customer
    direction: erp_to_crm
    erp: {{source: customers, key: id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: name, erp: name, crm: Name}}
      - {{field: number, erp: number, crm: AccountNumber}}
      - {{field: tax_id, erp: nip, crm: Tax_Id__c}}
      - {{field: phone, erp: phone, crm: Phone}}
      - {{field: billing_address.street, erp: street, crm: BillingStreet}}
      - {{field: billing_address.city, erp: city, crm: BillingCity}}
      - {{field: billing_address.postal_code, erp: postal_code, crm: BillingPostalCode}}
      - field: billing_address.country
        erp: country_code
        crm: BillingCountry
        value_map: countries
"""


@dataclass(frozen=True)
class TandemTuning:
    """The flow's batch settings (see docs/benchmarks.md for why these values).

    Attributes:
        batch_size: records per incremental batch.
        initial_batch_size: records per batch of the initial load.
        bulk_threshold: a write batch above this many records goes through Bulk API 2.0.
    """

    batch_size: int = 10_000
    initial_batch_size: int = 20_000
    bulk_threshold: int = 1_000


def write_flow(folder: Path, erp: Path, crm: SandboxProcess, tuning: TandemTuning) -> Path:
    """Write the flow and its secret files into ``folder``; return the config path."""
    secrets = folder / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    for name, key in (("sf_password", "password"), ("sf_client_secret", "client_secret")):
        path = secrets / name
        path.write_text(str(crm.config[key]), encoding="utf-8")
        path.chmod(0o600)
    config = folder / "flow.yaml"
    config.write_text(
        FLOW.format(
            state=folder / "state.db",
            erp_url=erp_url(erp),
            base_url=crm.base_url,
            ca_file=crm.ca_file,
            username=crm.config["username"],
            client_id=crm.config["client_id"],
            batch_size=tuning.batch_size,
            initial_batch_size=tuning.initial_batch_size,
            bulk_threshold=tuning.bulk_threshold,
        ),
        encoding="utf-8",
    )
    return config


def tandem_sync(config: Path, crm: SandboxProcess) -> dict[str, Any]:
    """One ``tandem sync --json`` pass as a child process: time, RSS, API calls, counts."""
    before = crm.api_used()
    run: Measured = run_measured([TANDEM, "sync", "-c", str(config), "--json", "--no-progress"])
    calls = crm.api_used() - before
    if run.returncode != 0:
        raise RuntimeError(f"tandem sync failed ({run.returncode}):\n{run.stderr[-3000:]}")
    report = json.loads(run.stdout)
    counts = report["counts"].get("customer", {}).get("erp->crm", {})
    return {
        "seconds": round(run.seconds, 2),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "api_calls": calls,
        "counts": counts,
        "write_calls": report.get("write_calls"),
        "settled_s": run.settled_s,
    }


def tandem_check(config: Path, crm: SandboxProcess) -> dict[str, Any]:
    """``tandem check`` as a child process: what putting the flow into service costs.

    It describes every bound object and saves the descriptions in the state store; passes
    that start within ``describe_cache_seconds`` reuse them instead of describing again.
    """
    before = crm.api_used()
    run: Measured = run_measured([TANDEM, "check", "-c", str(config)])
    if run.returncode != 0:
        raise RuntimeError(f"tandem check failed ({run.returncode}):\n{run.stderr[-3000:]}")
    return {"seconds": round(run.seconds, 2), "api_calls": crm.api_used() - before}


def change_latency(
    config: Path, erp: Path, crm: SandboxProcess, keys: list[int], samples: int
) -> dict[str, Any]:
    """Edit one row at a time under ``tandem run``; ms until the CRM shows each edit.

    The first edit is a warm-up: the run's first pass re-reads the overlap window behind the
    stored cursor (the incremental round just before), so it is slower than the steady state.

    Args:
        config: the flow (already synced once, so the run has only the edits to carry).
        erp: the ERP file.
        crm: the sandbox.
        keys: candidate ERP ids to edit.
        samples: how many edits to time.
    """
    rng = random.Random(5)
    chosen = rng.sample(keys, samples + 1)  # the first edit warms up and is not counted
    engine = sa.create_engine(erp_url(erp))
    latencies: list[float] = []
    try:
        with tandem_running(config), crm.api() as api:
            for n, key in enumerate(chosen):
                phone = changed_phone(key, 700 + n)
                with engine.begin() as conn:
                    conn.execute(
                        sa.text("UPDATE customers SET phone = :p WHERE id = :k"),
                        {"p": phone, "k": key},
                    )
                started = time.perf_counter()
                soql = f"SELECT Phone FROM Account WHERE ERP_Id__c = '{key}'"
                while True:
                    rows = api.get("query/", params={"q": soql}).json()["records"]
                    if rows and rows[0]["Phone"] == phone:
                        if n:
                            latencies.append((time.perf_counter() - started) * 1000)
                        break
                    if time.perf_counter() - started > 60:
                        raise RuntimeError(f"edit of customer {key} not seen in the CRM in 30 s")
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.1, 0.6))  # spaced, so edits land at random phases
    finally:
        engine.dispose()
    ordered = sorted(latencies)
    return {
        "samples": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(_percentile(ordered, 0.99), 1),
        "max_ms": round(ordered[-1], 1),
        "mean_ms": round(statistics.fmean(ordered), 1),
        "poll_seconds": 1.0,
    }


@contextmanager
def tandem_running(config: Path) -> Iterator[Path]:
    """``tandem run`` on ``config`` as a child process, past its first pass; yields its log.

    On leaving, the run is stopped as a person would (SIGINT), killed if it takes over 30 s.
    """
    log_path = config.parent / "run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [TANDEM, "run", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_for_start(log_path, process)
            yield log_path
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_start(log: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while b"running flow" not in log.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"tandem run did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    time.sleep(1.5)  # let the first pass (nothing to do) finish


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered))))
    return ordered[rank - 1]
