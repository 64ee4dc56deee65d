"""The ``tandem`` command line: thin; parses, calls the layers, prints.

Importing :mod:`tandem.cli.flow` and :mod:`tandem.cli.demo` registers their commands on the
shared :data:`~tandem.cli.common.app`.
"""

from __future__ import annotations

import typer

from tandem import __version__
from tandem.cli import demo, erp, flow, queues, store
from tandem.cli.common import app, tune_collector
from tandem.memory import one_malloc_arena
from tandem.sandbox.cli import app as sandbox_app

app.add_typer(sandbox_app, name="sandbox")
app.add_typer(queues.deadletters_app, name="deadletters")
app.add_typer(queues.conflicts_app, name="conflicts")
app.add_typer(erp.erp_app, name="erp")
app.add_typer(store.store_app, name="store")

COMMAND_MODULES = (demo, erp, flow, queues, store)
"""The modules whose commands make up the CLI."""


@app.command()
def version() -> None:
    """Print Tandem's version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``tandem`` script."""
    one_malloc_arena()
    tune_collector()
    app()


__all__ = ["COMMAND_MODULES", "app", "main"]
