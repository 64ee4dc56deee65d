"""``tandem sandbox ...``: local stand-ins for the systems Tandem connects."""

from __future__ import annotations

import typer

app = typer.Typer(help="Local, protocol-faithful stand-ins of the CRM (and ERP) for tests and demos.")
