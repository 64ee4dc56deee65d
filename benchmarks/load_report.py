"""Plot and tabulate the results of ``benchmarks/engine_load.py``.

Usage::

    .venv/bin/python benchmarks/load_report.py benchmarks/results/engine_load.json
        [--plot docs/img/engine_load.png]

Prints the Markdown tables used in docs/benchmarks.md and writes the plot.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

LABELS = {
    "tandem": "Tandem",
    "peer_b_bulk2": "(b) simple-salesforce Bulk 2.0",
    "peer_b_collections": "(b) simple-salesforce Collections",
    "peer_a_loop": "(a) simple-salesforce per-record loop",
}
PHASES = {"initial": "Initial load", "changes": "Incremental changes"}


def plot(results: dict[str, Any], path: Path) -> None:
    """Records/s and API calls per 1,000 records, per contender and phase (log scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contenders = [c for c in LABELS if c in results["contenders"]]
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    width = 0.38
    colours = {"initial": "#3b6ea5", "changes": "#e39b2d"}
    metrics = (
        ("records_per_s", "records/s (higher is better)"),
        ("calls_per_1000", "API calls per 1,000 records (lower is better)"),
        ("peak_rss_mb", "peak RSS, MB (lower is better)"),
    )
    for ax, (metric, title) in zip(axes, metrics, strict=True):
        for offset, phase in ((-width / 2, "initial"), (width / 2, "changes")):
            values = [results["contenders"][c][phase][metric] for c in contenders]
            xs = [i + offset for i in range(len(contenders))]
            bars = ax.bar(xs, values, width, label=PHASES[phase], color=colours[phase])
            ax.bar_label(bars, labels=[_short(v) for v in values], fontsize=7, padding=2)
        ax.set_xticks(range(len(contenders)))
        ax.set_xticklabels([LABELS[c].replace(" simple-salesforce", "\n") for c in contenders])
        ax.set_title(title, fontsize=10)
        if metric != "peak_rss_mb":
            ax.set_yscale("log")
        else:
            ax.axhline(300, color="#a33", linestyle="--", linewidth=1)
            ax.text(-0.45, 306, "300 MB target", fontsize=7, color="#a33")
        ax.tick_params(axis="x", labelsize=8)
    axes[0].legend(fontsize=8)
    scale = results["scale"]
    machine = results["machine"]
    network = f", {rtt:g} ms round trip a call" if (rtt := scale.get("rtt_ms")) else ""
    fig.suptitle(
        f"Engine load, ERP (SQLite) -> CRM sandbox{network}: {scale['records']:,} records + "
        f"{scale['changes']:,} changes; peer (a) on {scale['loop_records']:,} + "
        f"{scale['loop_changes']:,}  |  {machine['cpu']}, {machine['cores']} cores, "
        f"Python {machine['python']}, {results['date'][:10]}",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2g}" if value < 1 else f"{value:.1f}"


def tables(results: dict[str, Any]) -> str:
    """One Markdown table per phase, every contender measured in the same run."""
    lines: list[str] = []
    for phase, title in PHASES.items():
        lines += [
            f"### {title}",
            "",
            "| Contender | Records | Wall time (s) | Records/s | API calls | Calls / 1,000 "
            "| Peak RSS (MB) | Verified |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, label in LABELS.items():
            row = results["contenders"].get(name, {}).get(phase)
            if row is None:
                continue
            check = row["check"]
            verified = (
                f"{check['count']:,} in CRM, {check['duplicates']} dup."
                + (
                    f", {check['changed_ok']:,}/{check['changed_expected']:,} edits"
                    if check["changed_expected"]
                    else ""
                )
                + (" ✔" if check["ok"] else " ✘")
            )
            lines.append(
                f"| {label} | {row['records']:,} | {row['seconds']:.1f} | "
                f"{row['records_per_s']:,.0f} | {row['api_calls']:,} | "
                f"{row['calls_per_1000']:g} | {row['peak_rss_mb']:.0f} | {verified} |"
            )
            if name == "tandem" and phase == "initial":
                lines += _with_setup(results["contenders"][name], row)
        lines.append("")
    latency = results["contenders"].get("tandem", {}).get("latency")
    if latency:
        lines += [
            "### Change latency (`tandem run`, SQLite ERP polled every "
            f"{latency['poll_seconds']:g} s)",
            "",
            "| Samples | p50 (ms) | p99 (ms) | max (ms) | mean (ms) |",
            "|---:|---:|---:|---:|---:|",
            f"| {latency['samples']} | {latency['p50_ms']:,.0f} | {latency['p99_ms']:,.0f} | "
            f"{latency['max_ms']:,.0f} | {latency['mean_ms']:,.0f} |",
            "",
        ]
    return "\n".join(lines)


def _with_setup(tandem: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """Tandem's initial load again, with the ``tandem check`` that preceded it counted in."""
    setup = tandem.get("setup")
    if not setup:
        return []
    seconds = row["seconds"] + setup["seconds"]
    calls = row["api_calls"] + setup["api_calls"]
    return [
        f"| Tandem incl. `tandem check` before it | {row['records']:,} | {seconds:.1f} | "
        f"{row['records'] / seconds:,.0f} | {calls:,} | "
        f"{round(calls / row['records'] * 1000, 3):g} | {row['peak_rss_mb']:.0f} | as above |"
    ]


def main(argv: list[str] | None = None) -> None:
    """Print the tables of a results file and write its plot."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path)
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path(__file__).resolve().parent.parent / "docs" / "img" / "engine_load.png",
    )
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    print(tables(results))
    plot(results, args.plot)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
