"""``tandem demo``: Tandem's main job on an embedded default, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tandem.cli.common import app, console, run_async
from tandem.cli.render import progress_on


@app.command()
def demo(
    folder: Annotated[Path, typer.Option("--dir", help="Where the demo keeps its files.")] = Path(
        ".tandem-demo"
    ),
    customers: Annotated[int, typer.Option(help="Customers in the sample ERP.")] = 200,
) -> None:
    """A sample ERP and the local Salesforce sandbox, synchronised for real, step by step."""
    from tandem.demo.run import run_demo  # the sandbox server loads only for the demo

    result = run_async(
        lambda: run_demo(
            folder.resolve(), customers=customers, console=console, progress=progress_on
        )
    )
    ok = result.erp_edit_seen_in_crm and result.crm_edit_seen_in_erp
    if not ok:
        raise typer.Exit(1)
