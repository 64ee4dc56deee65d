"""``tandem store ...``: the state store's schema, moving it, and retention."""

from __future__ import annotations

from typing import Annotated

import typer

from tandem.cli.common import DEFAULT_CONFIG, ConfigOption, console, guard, load
from tandem.store import StateStore, copy_store

store_app = typer.Typer(help="The state store: migrate, copy, prune.", no_args_is_help=True)


@store_app.command("migrate")
def migrate(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Create or upgrade the state store's tables (Alembic migrations)."""
    flow = load(config)

    def run() -> None:
        with StateStore(flow.state_url()) as store:
            store.migrate()

    guard(run)
    console.print("[green]✓[/green] state store is at the current schema")


@store_app.command("copy")
def copy(
    target: Annotated[str, typer.Argument(help="SQLAlchemy URL of the new state store.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Copy the flow's state into another database (e.g. SQLite -> PostgreSQL for scale-out)."""
    flow = load(config)
    counts = guard(lambda: copy_store(flow.state_url(), target))
    for table, rows in counts.items():
        console.print(f"  {table}: {rows} rows")
    console.print("[green]✓[/green] copied; point `state:` in the config at the new URL")


@store_app.command("adopt")
def adopt(
    old: Annotated[str, typer.Option("--from", help="The flow's name before the rename.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Give a renamed flow the state kept under its old name (links, cursors, queues)."""
    flow = load(config)

    def run() -> dict[str, int]:
        with StateStore(flow.state_url()) as store:
            store.migrate()
            return store.adopt_flow(old, flow.name)

    moved = guard(run)
    for table, rows in moved.items():
        if rows:
            console.print(f"  {table}: {rows} rows")
    console.print(f"[green]✓[/green] the state of flow {old} is now flow {flow.name}'s")


@store_app.command("prune")
def prune(
    config: ConfigOption = DEFAULT_CONFIG,
    audit_days: Annotated[int, typer.Option(help="Keep this many days of audit log.")] = 90,
    dead_letter_days: Annotated[
        int, typer.Option(help="Keep closed dead letters this many days.")
    ] = 30,
) -> None:
    """Delete audit entries and closed dead letters older than the retention."""
    flow = load(config)

    def run() -> int:
        with StateStore(flow.state_url()) as store:
            return store.prune(audit_days=audit_days, dead_letter_days=dead_letter_days)

    removed = guard(run)
    console.print(f"{removed} rows pruned")
