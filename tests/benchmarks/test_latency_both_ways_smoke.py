"""The two-way latency benchmark at toy scale: edits made on each side arrive on the other.

Timings are not asserted; the benchmark itself fails when an edit does not arrive (it waits
for each edit to show up on the other side), so a result with every sample is the check.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from latency_both_ways import measure, summary


def test_edits_on_either_side_arrive_under_tandem_run(tmp_path: Path) -> None:
    result = measure(tmp_path, records=40, samples=2, rtt_ms=0.0)
    assert set(result) == {"erp_to_crm", "crm_to_erp"}
    for row in result.values():
        assert row["samples"] == 2
        assert 0 < row["p50_ms"] <= row["max_ms"]


def test_summary_takes_the_nearest_rank_percentile() -> None:
    row = summary([float(n) for n in range(1, 101)])
    assert (row["p50_ms"], row["p99_ms"], row["max_ms"], row["mean_ms"]) == (
        50.5,
        99.0,
        100.0,
        50.5,
    )
