"""The ``tandem`` command line: thin; parses, calls the layers, prints."""

from __future__ import annotations

import typer

from tandem import __version__
from tandem.sandbox.cli import app as sandbox_app

app = typer.Typer(
    name="tandem",
    help="Tandem keeps an on-premise ERP and a cloud CRM consistent, both ways.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(sandbox_app, name="sandbox")


@app.command()
def version() -> None:
    """Print Tandem's version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the ``tandem`` script."""
    app()


if __name__ == "__main__":
    main()
