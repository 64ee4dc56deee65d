"""Killed twice in the middle of a 100,000-record initial load, each time between the CRM
taking a batch and the state store committing its links, then restarted: ``tandem
reconcile`` reports zero differences and the sandbox holds no duplicates.

A variation of ``test_crash_recovery`` (whose ERP, flow and sandbox it uses): there the kill
lands anywhere; here it lands where the CRM holds records the state does not know yet, and a
second run dies the same way before the third completes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from test_crash_recovery import RECORDS, crash_env, kill_mid_load, restart_then_reconcile

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

    def between_write_and_commit(arrived: int) -> bool:
        return arrived >= at_least and 0 <= _links(state) < arrived

    return kill_mid_load(config, crm, between_write_and_commit, every=0.02, polls=6000)


@pytest.mark.slow
def test_killed_twice_between_crm_write_and_commit_then_reconcile_finds_nothing(
    crash_env: tuple[Path, SandboxHandle],
) -> None:
    config, crm = crash_env
    first = _kill_before_commit(config, crm, RECORDS // 5)
    _kill_before_commit(config, crm, first + RECORDS // 5)

    restart_then_reconcile(config, crm)
