"""Reconcile at scale: peak RSS and wall time of ``tandem reconcile`` on a synced ERP.

Builds the engine load benchmark's SQLite ERP (``--records`` customers), syncs it to a fresh
sandbox with ``tandem sync``, then measures, each as a child process (``VmHWM``, as
:func:`load_kit.run_measured` reads it):

* ``clean``: ``tandem reconcile --json`` with both systems in agreement (0 differences);
* ``drifted``: after ``--drift`` ERP rows were edited (not synced): reconcile reports them;
* ``heal``: ``tandem reconcile --heal --json`` on that drift;
* ``after_heal``: reconcile again (0 differences expected).

Usage::

    .venv/bin/python benchmarks/reconcile_scale.py [--records 100000] [--drift 20000]
        [--out benchmarks/results/reconcile_scale.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_kit import (
    TANDEM,
    SandboxProcess,
    calibrate,
    changed_keys,
    create_erp,
    machine_info,
    now_utc,
    run_measured,
    update_rows,
)
from load_tandem import TandemTuning, tandem_sync, write_flow

HERE = Path(__file__).resolve().parent


def measured_reconcile(config: Path, *extra: str) -> dict[str, Any]:
    """One ``tandem reconcile --json`` as a child process: seconds, peak RSS, counts."""
    run = run_measured([TANDEM, "reconcile", "-c", str(config), "--json", "--no-progress", *extra])
    if run.returncode not in (0, 1) or not run.stdout.strip():
        raise RuntimeError(f"tandem reconcile failed ({run.returncode}):\n{run.stderr[-3000:]}")
    data = json.loads(run.stdout)
    return {
        "seconds": round(run.seconds, 2),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
        "exit": run.returncode,
        "differences": data["differences"],
        "healed": data["healed"],
        "remaining": data["remaining"],
        "entities": data["entities"],
    }


def run(work: Path, records: int, drift: int) -> dict[str, Any]:
    """Build, sync, and measure the reconcile phases."""
    erp = work / "erp.db"
    create_erp(erp, records)
    results: dict[str, Any] = {
        "benchmark": "reconcile_scale",
        "date": now_utc(),
        "machine": machine_info(),
        "records": records,
        "drift": drift,
    }
    calibrate(samples=3)
    with SandboxProcess(work / "crm", work / "crm_schema.yaml") as crm:
        config = write_flow(work, erp, crm, TandemTuning())
        results["initial_sync"] = tandem_sync(config, crm)
        results["clean"] = measured_reconcile(config)
        if drift:
            update_rows(erp, changed_keys(records, drift), 611)
            results["drifted"] = measured_reconcile(config)
            results["heal"] = measured_reconcile(config, "--heal")
            results["after_heal"] = measured_reconcile(config)
    return results


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, run, print and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--drift", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "reconcile_scale.json")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tandem-reconcile-scale-"))
    try:
        results = run(work, args.records, min(args.drift, args.records))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
