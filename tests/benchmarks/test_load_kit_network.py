"""The benchmark's network round trip: every contender's sandbox adds it to each call."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from load_kit import SandboxProcess


@pytest.mark.parametrize("rtt_ms", [0.0, 30.0])
def test_sandbox_process_sets_the_round_trip(tmp_path: Path, rtt_ms: float) -> None:
    with SandboxProcess(tmp_path / "crm", tmp_path / "schema.yaml", rtt_ms) as crm:
        faults = crm.faults()
        with crm.api() as api:  # a call still goes through, only later
            assert api.get("limits/").status_code == 200
    config = faults["config"]
    assert config["latency_ms"] == rtt_ms
    assert config["include_auth"] is bool(rtt_ms)
