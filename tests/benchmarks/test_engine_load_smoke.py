"""The engine load benchmark at toy scale: every contender runs and every check holds.

Timings are not asserted (they mean nothing at this scale); the verification is: the CRM
holds exactly the expected Accounts, no ERP id twice, every edited value arrived, and the
API counter saw the calls.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from engine_load import Scale, run_benchmark
from load_kit import changed_phone, customer_rows, nip, verify
from load_report import plot, tables
from load_tandem import TandemTuning


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("engine-load")
    scale = Scale(records=300, changes=50, loop_records=50, loop_changes=20, latency_samples=2)
    # A threshold below the batch sizes, so the toy run still goes through Bulk 2.0.
    tuning = TandemTuning(batch_size=100, initial_batch_size=200, bulk_threshold=60)
    return run_benchmark(work, scale, tuning, peer_b_wait=1)  # the toy job is done in 1 s


def test_every_contender_delivers_everything_once(results: dict[str, Any]) -> None:
    contenders = results["contenders"]
    for name, expected in (
        ("tandem", 300),
        ("peer_b_bulk2", 300),
        ("peer_b_collections", 300),
        ("peer_a_loop", 50),
    ):
        for phase in ("initial", "changes"):
            check = contenders[name][phase]["check"]
            assert check["ok"], (name, phase, check)
            assert check["count"] == expected and check["duplicates"] == 0
    assert contenders["tandem"]["changes"]["check"]["changed_ok"] == 50
    assert contenders["peer_a_loop"]["changes"]["check"]["changed_ok"] == 20
    assert contenders["tandem"]["initial"]["counts"]["created"] == 300
    assert contenders["tandem"]["changes"]["counts"]["updated"] == 50


def test_api_calls_are_counted_by_the_sandbox(results: dict[str, Any]) -> None:
    contenders = results["contenders"]
    # One REST upsert per record: the counter must see exactly that many calls.
    assert contenders["peer_a_loop"]["initial"]["api_calls"] == 50
    assert contenders["peer_a_loop"]["changes"]["api_calls"] == 20
    # A Bulk job is at least create, upload, close and one poll.
    assert contenders["peer_b_bulk2"]["initial"]["api_calls"] >= 4
    # Collections: 200 records a call, so 300 rows are 2 calls and 50 changes 1.
    assert contenders["peer_b_collections"]["initial"]["api_calls"] == 2
    assert contenders["peer_b_collections"]["changes"]["api_calls"] == 1
    tandem = contenders["tandem"]
    assert tandem["initial"]["api_calls"] < contenders["peer_a_loop"]["initial"]["api_calls"]
    assert tandem["initial"]["peak_rss_mb"] > 0
    assert tandem["latency"]["samples"] == 2


def test_report_tables_and_plot(results: dict[str, Any], tmp_path: Path) -> None:
    text = tables(results)
    assert "### Initial load" in text and "(a) simple-salesforce per-record loop" in text
    assert "(b) simple-salesforce Collections" in text
    assert set(results["targets"]["initial"]) >= {
        "fewer_calls_per_1000_than_b_bulk2",
        "fewer_calls_per_1000_than_b_collections",
        "faster_than_b_collections",
    }
    assert "✘" not in text
    plot(results, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 10_000


def test_verify_finds_duplicates_missing_rows_and_stale_values() -> None:
    rows = [
        {"ERP_Id__c": "1", "Phone": changed_phone(1, 601), "BillingCity": "Gdynia"},
        {"ERP_Id__c": "2", "Phone": "+48 500 000 000", "BillingCity": "Gdynia"},
        {"ERP_Id__c": "2", "Phone": "+48 500 000 000", "BillingCity": "Gdynia"},
    ]
    check = verify(rows, 3, [1, 2], 601)
    assert (check["duplicates"], check["changed_ok"], check["ok"]) == (1, 1, False)
    assert verify(rows[:1], 1, [1], 601)["ok"]


def test_generated_customers_have_valid_nips() -> None:
    weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
    for row in customer_rows(200):
        digits = [int(c) for c in row["nip"]]
        assert sum(w * d for w, d in zip(weights, digits[:9], strict=True)) % 11 == digits[9]
    import random

    assert len(nip(random.Random(1))) == 10
