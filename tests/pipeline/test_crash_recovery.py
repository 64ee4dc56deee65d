"""SIGKILL in the middle of a 100,000-record initial load, then a restart.

Nothing may be lost and nothing written twice.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tandem.connectors.sql.capture import install_capture
from tandem.sandbox.salesforce.server import SandboxHandle, running_sandbox

RECORDS = 100_000

FLOW = """\
version: 1
name: crash
state: sqlite:///{state}
connections:
  erp: {{type: sql, url: "sqlite:///{erp}"}}
  crm:
    type: salesforce
    instance_url: {base_url}
    login_url: {base_url}
    ca_file: {ca_file}
    auth_flow: password
    username: {username}
    client_id: {client_id}
    password: {{file: {folder}/sf_password}}
    client_secret: {{file: {folder}/sf_secret}}
    bulk_threshold: 2000
entities:
  customer:
    model: customer
    direction: erp_to_crm
    initial_batch_size: 5000
    erp: {{source: customers, key: id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: name, erp: name, crm: Name}}
      - {{field: number, erp: number, crm: AccountNumber}}
      - {{field: billing_address.city, erp: city, crm: BillingCity}}
"""


def _erp(path: Path) -> str:
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE customers "
        "(id INTEGER PRIMARY KEY, number TEXT, name TEXT NOT NULL, city TEXT)"
    )
    conn.executemany(
        "INSERT INTO customers VALUES (?, ?, ?, ?)",
        (
            (n, f"C-{n:06d}", f"Customer {n}", ("Warszawa", "Kraków", "Gdańsk")[n % 3])
            for n in range(1, RECORDS + 1)
        ),
    )
    conn.commit()
    conn.close()
    url = f"sqlite:///{path}"
    install_capture(url, [("customers", "id")])
    return url


def _tandem(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from tandem.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _count(crm: SandboxHandle) -> int:
    return crm.org.query(
        "SELECT COUNT() FROM Account", include_deleted=False, batch_size=2000, api_version="59.0"
    ).total_size


@pytest.fixture
def crash_env(tmp_path: Path) -> Iterator[tuple[Path, SandboxHandle]]:
    _erp(tmp_path / "erp.db")
    with running_sandbox(tmp_path / "crm") as crm:
        (tmp_path / "sf_password").write_text(crm.password, encoding="utf-8")
        (tmp_path / "sf_secret").write_text(crm.client_secret, encoding="utf-8")
        config = tmp_path / "tandem.yaml"
        config.write_text(
            FLOW.format(
                state=tmp_path / "state.db",
                erp=tmp_path / "erp.db",
                base_url=crm.base_url,
                ca_file=crm.ca_file,
                username=crm.username,
                client_id=crm.client_id,
                folder=tmp_path,
            ),
            encoding="utf-8",
        )
        yield config, crm


@pytest.mark.slow
def test_sigkill_mid_initial_load_then_restart_loses_and_duplicates_nothing(
    crash_env: tuple[Path, SandboxHandle],
) -> None:
    config, crm = crash_env
    kill_mid_load(config, crm, lambda arrived: arrived >= RECORDS // 5, every=0.1, polls=1200)

    restart_then_reconcile(config, crm)


def kill_mid_load(
    config: Path, crm: SandboxHandle, ready: Callable[[int], bool], *, every: float, polls: int
) -> int:
    """Start a sync; SIGKILL it once ``ready`` says so of the CRM's record count, polled every
    ``every`` seconds (at most ``polls`` times). The CRM's count then, which must be part of
    the load: the sync must not have finished first."""
    run = _tandem("sync", "-c", str(config), "--no-progress")
    arrived = 0
    for _ in range(polls):
        time.sleep(every)
        if run.poll() is not None:
            break
        arrived = _count(crm)
        if ready(arrived):
            break
    assert run.poll() is None, "the load finished before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL
    assert 0 < arrived < RECORDS
    return arrived


def restart_then_reconcile(config: Path, crm: SandboxHandle) -> None:
    """Run the load to its end; ``tandem reconcile`` then finds no difference, and the CRM
    holds every customer once."""
    last = _tandem("sync", "-c", str(config), "--no-progress")
    _, err = last.communicate(timeout=900)
    assert last.returncode == 0, err

    check = _tandem("reconcile", "-c", str(config), "--json")
    out, err = check.communicate(timeout=600)
    assert check.returncode == 0, err
    report = json.loads(out)
    assert report["differences"] == 0
    assert report["entities"]["customer"]["in_sync"] == RECORDS

    _, rows = crm.org.query_rows("SELECT ERP_Id__c FROM Account", include_deleted=True)
    ids = [row[0] for row in rows]
    assert len(ids) == RECORDS
    assert len(set(ids)) == RECORDS
