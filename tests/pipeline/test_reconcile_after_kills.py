"""Killed twice in the middle of a 100,000-record initial load, each time between the CRM
taking a batch and the state store committing its links, then restarted: ``tandem
reconcile`` reports zero differences and the sandbox holds no duplicates.

A variation of ``test_crash_recovery`` (whose ERP, flow and sandbox it uses): there the kill
lands anywhere; here it lands where the CRM holds records the state does not know yet, and a
second run dies the same way before the third completes.
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest
from test_crash_recovery import RECORDS, _count, _tandem, crash_env, restart_then_reconcile

from tandem.sandbox.salesforce.server import SandboxHandle

__all__ = ["crash_env"]


def _links(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=0.05) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM tandem_link").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or locked by the writer
        return -1


def _kill_before_commit(config: Path, crm: SandboxHandle, at_least: int) -> int:
    """Start a sync; SIGKILL it once the CRM holds ``at_least`` records and more than the
    state has linked (a batch written, its links not committed). The CRM's count then."""
    state = config.parent / "state.db"
    run = _tandem("sync", "-c", str(config), "--no-progress")
    arrived = 0
    for _ in range(6000):
        time.sleep(0.02)
        if run.poll() is not None:
            break
        arrived = _count(crm)
        linked = _links(state)
        if arrived >= at_least and 0 <= linked < arrived:
            break
    assert run.poll() is None, "the load finished before it could be killed"
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL
    assert 0 < arrived < RECORDS
    return arrived


@pytest.mark.slow
def test_killed_twice_between_crm_write_and_commit_then_reconcile_finds_nothing(
    crash_env: tuple[Path, SandboxHandle],
) -> None:
    config, crm = crash_env
    first = _kill_before_commit(config, crm, RECORDS // 5)
    _kill_before_commit(config, crm, first + RECORDS // 5)

    restart_then_reconcile(config, crm)
