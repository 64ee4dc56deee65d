"""``tandem erp``: the ERP side's change capture, installed and pruned."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer

from tandem.cli.common import (
    DEFAULT_CONFIG,
    ConfigOption,
    console,
    err,
    existing_state,
    guard,
    load,
    run_async,
)
from tandem.config import FlowSpec
from tandem.connectors.base import Connector
from tandem.errors import ConfigError
from tandem.pipeline.prune import PruneHorizon, describe, prune_capture
from tandem.pipeline.runtime import build_connector

erp_app = typer.Typer(help="The ERP side: change capture.", no_args_is_help=True)

KeepOption = Annotated[
    float,
    typer.Option(
        "--keep-days",
        min=0,
        help="Keep entries of the last so many days even when the flow has read them.",
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Say up to when entries would go; delete nothing.")
]


def _capture_operation(flow: FlowSpec, name: str) -> tuple[Connector, Any]:
    """The flow's ERP connector and its change-capture operation ``name``; exit (code 1)
    naming the connector when it has none (no change log)."""
    connector = guard(lambda: build_connector(flow, "erp"))
    operation = getattr(connector, name, None)
    if operation is None:
        err.print(f"[red]error:[/red] the ERP connector ({connector.system}) has no change log")
        raise typer.Exit(1)
    return connector, operation


@erp_app.command("install-capture")
def install_capture_cmd(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Install the trigger-maintained change log on the ERP tables of the flow."""
    flow = load(config)
    connector, installer = _capture_operation(flow, "install_capture")
    bindings = [spec.binding("erp") for spec in flow.ordered_entities()]

    async def install() -> None:
        await connector.open()
        try:
            await installer(bindings)
        except ConfigError as exc:
            # A table or key column a binding names that the ERP lacks or cannot capture:
            # at the setting's file and line (entities.customer.erp.key), not the bare name.
            placed = flow.place(exc, "erp")
            if placed is exc:
                raise
            raise placed from None
        finally:
            await connector.close()

    run_async(install)
    for binding in bindings:
        console.print(f"[green]✓[/green] change capture on {binding.source} (key {binding.key})")


DropOption = Annotated[
    bool,
    typer.Option(
        "--drop-changelog",
        help="Also drop the change log and its tables (what it holds that no pass has read "
        "yet is lost to the flow).",
    ),
]


@erp_app.command("uninstall-capture")
def uninstall_capture_cmd(
    config: ConfigOption = DEFAULT_CONFIG, drop_changelog: DropOption = False
) -> None:
    """Drop the change-capture triggers from the ERP tables of the flow (to remove Tandem)."""
    flow = load(config)
    connector, uninstaller = _capture_operation(flow, "uninstall_capture")
    bindings = [spec.binding("erp") for spec in flow.ordered_entities()]

    async def uninstall() -> None:
        await connector.open()
        try:
            await uninstaller(bindings, drop_changelog=drop_changelog)
        finally:
            await connector.close()

    run_async(uninstall)
    for binding in bindings:
        console.print(f"[green]✓[/green] no change capture on {binding.source}")
    if drop_changelog:
        console.print("[green]✓[/green] change log dropped")


@erp_app.command("prune")
def prune(
    config: ConfigOption = DEFAULT_CONFIG,
    keep_days: KeepOption = 7.0,
    dry_run: DryRunOption = False,
) -> None:
    """Delete the change-log entries the flow has read and are older than --keep-days.

    An entry goes once every entity that reads the ERP's changes has read past it (its cursor
    less its overlap). The log grows with every ERP write: schedule this, say daily. Flows
    that share one change log must prune with the one furthest behind, or each use a
    changelog_table of its own.
    """
    flow = load(config)
    connector, _ = _capture_operation(flow, "prune_capture")
    store = existing_state(flow)
    keep = timedelta(days=keep_days)

    async def run() -> tuple[PruneHorizon, int | None]:
        await connector.open()
        try:
            return await prune_capture(flow, store, connector, keep, dry_run=dry_run)
        finally:
            await connector.close()

    try:
        horizon, pruned = run_async(run)
    finally:
        store.close()
    why = describe(horizon, keep)
    if horizon.before is None:
        console.print(f"nothing pruned: {why}")
        return
    before = horizon.before.isoformat(timespec="seconds")
    if pruned is None:
        console.print(f"entries before {before} would go (set by {why})")
        return
    console.print(f"{pruned} change-log entries before {before} pruned (set by {why})")
