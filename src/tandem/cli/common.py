"""What every command shares: the app, the --config option, error reporting."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from tandem.config import FlowSpec, load_flow
from tandem.errors import ConfigError, Fatal, StoreError, TandemError
from tandem.pipeline.runtime import open_store
from tandem.store import StateStore, holds_state, state_location

T = TypeVar("T")

app = typer.Typer(
    name="tandem",
    help="Tandem keeps an on-premise ERP and a cloud CRM consistent, both ways.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        envvar="TANDEM_CONFIG",
        help="The flow config (YAML).",
        show_default=True,
    ),
]
DEFAULT_CONFIG = Path("tandem.yaml")


def load(config: Path) -> FlowSpec:
    """Load the flow config or exit with the error (file, line, field)."""
    return guard(lambda: load_flow(config))


def guard(call: Callable[[], T]) -> T:
    """Run ``call``; turn Tandem's errors into a clear message and an exit code."""
    try:
        return call()
    except ConfigError as exc:
        err.print(f"[red]config error:[/red] {exc}")
        raise typer.Exit(2) from None
    except (Fatal, StoreError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except TandemError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


NO_STATE_EXIT = 1
"""Exit code of a command that reads the flow's state when there is none yet."""


def open_state(flow: FlowSpec) -> StateStore | None:
    """The flow's state store for a command that only reads it (or changes what is in it),
    ``None`` when there is none yet; never creates one (only ``sync``, ``run`` and the commands
    that write to the systems do)."""
    if not guard(lambda: holds_state(flow.state_url())):
        return None
    return guard(lambda: open_store(flow))


def no_state(flow: FlowSpec) -> str:
    """What to say when the flow has no state yet."""
    where = guard(lambda: state_location(flow.state_url()))
    return (
        f"no state at {where}: flow {flow.name} has not been synced yet (`tandem sync` "
        "creates it), or `state:` in its config points elsewhere"
    )


def existing_state(flow: FlowSpec) -> StateStore:
    """:func:`open_state`, or exit (code :data:`NO_STATE_EXIT`) saying there is no state."""
    store = open_state(flow)
    if store is None:
        err.print(f"[red]error:[/red] {no_state(flow)}", soft_wrap=True)
        raise typer.Exit(NO_STATE_EXIT)
    return store


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion under :func:`guard`."""
    return guard(lambda: asyncio.run(factory()))


GC_THRESHOLDS = (50_000, 20, 20)
"""Collector thresholds for a sync process (CPython's defaults are ``(700, 10, 10)``)."""


def tune_collector() -> None:
    """Make the cyclic garbage collector fit batch work: fewer, larger young collections.

    A pass allocates millions of short-lived objects (rows, values, plans) while batches of
    long-lived ones stay alive; with the default thresholds the collector keeps re-scanning
    those, about a sixth of a 100,000-record load's CPU. What was loaded at start-up (modules,
    the flow) is frozen out of collections altogether. Reference counting still frees almost
    everything at once; only cycles wait longer.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def setup_logging(verbose: bool) -> None:
    """Log to stderr; INFO with --verbose, else WARNING (TANDEM_LOG_LEVEL overrides)."""
    level = os.environ.get("TANDEM_LOG_LEVEL") or ("INFO" if verbose else "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


__all__ = [
    "DEFAULT_CONFIG",
    "GC_THRESHOLDS",
    "NO_STATE_EXIT",
    "ConfigOption",
    "app",
    "console",
    "err",
    "existing_state",
    "guard",
    "load",
    "no_state",
    "open_state",
    "run_async",
    "setup_logging",
    "tune_collector",
]
