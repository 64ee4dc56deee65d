"""``tandem erp``: the ERP side's change capture, installed and pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

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
from tandem.errors import ConfigError
from tandem.pipeline.prune import prune_horizon
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


@erp_app.command("install-capture")
def install_capture_cmd(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Install the trigger-maintained change log on the ERP tables of the flow."""
    flow = load(config)
    connector = guard(lambda: build_connector(flow, "erp"))
    installer = getattr(connector, "install_capture", None)
    if installer is None:
        err.print(f"[red]error:[/red] the ERP connector ({connector.system}) has no change log")
        raise typer.Exit(1)
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
    connector = guard(lambda: build_connector(flow, "erp"))
    pruner = getattr(connector, "prune_capture", None)
    if pruner is None:
        err.print(f"[red]error:[/red] the ERP connector ({connector.system}) has no change log")
        raise typer.Exit(1)
    store = existing_state(flow)
    try:
        now = datetime.now(UTC)
        horizon = guard(lambda: prune_horizon(flow, store, now, timedelta(days=keep_days)))
    finally:
        store.close()
    cutoff = horizon.before
    if cutoff is None:
        console.print(
            f"nothing pruned: entity {horizon.by} has not read the ERP's changes yet "
            "(its first sync reads the change log from its beginning)"
        )
        return
    why = (
        f"the {keep_days:g}-day retention"
        if horizon.by == "retention"
        else f"entity {horizon.by}'s cursor, less its overlap"
    )
    before = cutoff.isoformat(timespec="seconds")
    if dry_run:
        console.print(f"entries before {before} would go (set by {why})")
        return

    async def run() -> int:
        await connector.open()
        try:
            return int(await pruner(cutoff))
        finally:
            await connector.close()

    pruned = run_async(run)
    console.print(f"{pruned} change-log entries before {before} pruned (set by {why})")
