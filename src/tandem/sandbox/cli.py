"""``tandem sandbox ...``: local stand-ins for the systems Tandem connects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Local, protocol-faithful stand-ins of the CRM (and ERP) for tests and demos."
)


@app.callback()
def sandbox() -> None:
    """Local, protocol-faithful stand-ins of the CRM (and ERP) for tests and demos."""


@app.command("crm")
def crm(
    data: Annotated[
        Path, typer.Option("--data", help="Data directory: certificates, credentials, records.")
    ],
    port: Annotated[int, typer.Option("--port", help="HTTPS port (0 picks a free one).")] = 8443,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    schema: Annotated[
        list[Path] | None,
        typer.Option("--schema", help="Extra schema YAML (custom objects/fields); repeatable."),
    ] = None,
    faults: Annotated[
        str | None, typer.Option("--faults", help="Fault configuration: JSON text or a JSON file.")
    ] = None,
    daily_limit: Annotated[
        int | None,
        typer.Option("--daily-limit", help="Daily API allocation (default 100000, persisted)."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the fault draws.")] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (slower).")
    ] = False,
) -> None:
    """Serve a local Salesforce (REST, OAuth, SOAP login, Bulk 2.0) over HTTPS."""
    from tandem.errors import ConfigError
    from tandem.sandbox.salesforce.faults import load_fault_config
    from tandem.sandbox.salesforce.server import SandboxServer, serve

    try:
        fault_config = load_fault_config(faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc
    try:
        server = SandboxServer(
            data,
            host=host,
            port=port,
            schema_files=schema or [],
            faults=fault_config,
            daily_limit=daily_limit,
            seed=seed,
            access_log=access_log,
        )
    except ConfigError as exc:  # a bad --schema file
        typer.echo(f"Invalid schema: {exc}", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        typer.echo(f"Cannot serve on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    state = server.state
    typer.echo(f"Salesforce sandbox: {server.base_url}")
    typer.echo(f"CA certificate:     {server.tls.ca_file}")
    typer.echo(f"Credentials:        {server.data_dir / 'sandbox.json'}")
    typer.echo(f"Daily API limit:    {state.usage.maximum}")
    if not state.faults.quiet:
        typer.echo(f"Faults:             {state.faults.config.model_dump_json()}")
    typer.echo(f"Fault seed:         {state.faults.config.seed}", nl=True)
    serve(server)
    typer.echo("Salesforce sandbox stopped.")


if __name__ == "__main__":
    app()
