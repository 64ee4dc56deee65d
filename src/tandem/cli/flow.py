"""Commands that drive a flow: check, plan, sync, run, status, reconcile, schema, erp."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy.engine import make_url

from tandem.cli.common import (
    DEFAULT_CONFIG,
    ConfigOption,
    app,
    console,
    err,
    existing_state,
    guard,
    load,
    run_async,
    setup_logging,
)
from tandem.cli.render import (
    compare_progress_on,
    field_table,
    pass_table,
    planned_table,
    progress_on,
    reconcile_table,
    status_tables,
)
from tandem.config import flow_json_schema
from tandem.connectors.base import Cursor
from tandem.connectors.http import InFlight, waits_cut_short_by
from tandem.errors import Stopping
from tandem.pipeline.events import EventBus
from tandem.pipeline.problems import Problem
from tandem.pipeline.reconcile import ReconcileReport
from tandem.pipeline.reconcile import reconcile as run_reconcile
from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")]
EntityOption = Annotated[
    list[str] | None, typer.Option("--entity", "-e", help="Only these entities (repeatable).")
]


@app.command()
def schema() -> None:
    """Print the JSON Schema of the flow config (for editors and CI validation)."""
    console.print_json(json.dumps(flow_json_schema()))


@app.command()
def check(config: ConfigOption = DEFAULT_CONFIG, verbose: VerboseOption = False) -> None:
    """Validate the config, connect to both systems, check the mapping against their schemas."""
    setup_logging(verbose)
    flow = load(config)
    console.print(
        f"[green]✓[/green] {config}: flow [bold]{flow.name}[/bold], {len(flow.entities)} entities"
    )

    async def probe() -> list[Problem]:
        async with running_engine(
            flow, check=False, claim=False, fresh_describe=True, audit=True
        ) as engine:
            console.print("[green]✓[/green] connected to erp and crm")
            for change in engine.drift:
                console.print(f"[yellow]![/yellow] schema drift since the last run: {change}")
            for warning in engine.warnings:
                console.print(f"[yellow]![/yellow] {escape(str(warning))}", soft_wrap=True)
            return engine.problems

    problems = run_async(probe)
    if problems:
        for problem in problems:
            # file:line: field: message on one line, as editors and CI annotations read it
            err.print(f"[red]✗[/red] {escape(str(problem))}", soft_wrap=True)
        raise typer.Exit(1)
    console.print("[green]✓[/green] the mapping fits both systems' schemas")


@app.command()
def plan(
    config: ConfigOption = DEFAULT_CONFIG,
    entity: EntityOption = None,
    limit: Annotated[int, typer.Option(help="Planned writes to list.")] = 20,
    as_json: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Dry run: what would change in which system, per entity and field. Nothing is written."""
    setup_logging(verbose)
    flow = load(config)

    async def dry() -> PassReport:
        async with running_engine(flow, claim=False) as engine:
            return await engine.sync(dry_run=True, entities=entity)

    report = run_async(dry)
    if as_json:
        data = report.as_dict()
        data["fields"] = [
            {"entity": e, "target": t, "field": f, "records": n}
            for (e, t, f), n in sorted(report.field_changes.items())
        ]
        data["planned"] = [
            {
                "entity": c.entity,
                "target": c.target,
                "action": c.action,
                "source_key": c.source_key,
                "target_key": c.target_key,
                "fields": {k: str(v) for k, v in c.fields.items()},
            }
            for c in report.planned
        ]
        console.print_json(json.dumps(data))
        return
    console.print(pass_table(report, "plan (dry run: nothing written)"))
    if report.planned:
        console.print(field_table(report))
        console.print(planned_table(report, limit))


@app.command()
def sync(
    config: ConfigOption = DEFAULT_CONFIG,
    entity: EntityOption = None,
    as_json: JsonOption = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    verbose: VerboseOption = False,
) -> None:
    """One sync pass: every change since the last pass, both ways.

    A first Ctrl-C / SIGTERM ends the pass at its next batch, and any wait of it at once
    (a Retry-After, a Bulk job, the API budget; a Bulk job not collected within its
    ``stop_grace_seconds`` is aborted); a second one aborts the Bulk jobs in flight and stops
    at once. Either way the exit code is 128 + the signal's number, and what the
    pass had not committed is read again and re-sent (idempotently) by the next sync.
    """
    setup_logging(verbose)
    flow = load(config)
    bus = EventBus()
    signals: list[signal.Signals] = []

    async def once() -> PassReport | None:
        stop, now, held = asyncio.Event(), asyncio.Event(), InFlight()
        aborts = _stop_on_signals(stop, signals, "stopping the pass at its next batch", now, held)
        try:
            with waits_cut_short_by(stop, now, held):
                async with running_engine(flow, bus=bus) as engine:
                    try:
                        for change in engine.drift:
                            err.print(f"[yellow]schema drift:[/yellow] {change}")
                        for warning in engine.warnings:
                            err.print(
                                f"[yellow]warning:[/yellow] {escape(str(warning))}",
                                soft_wrap=True,
                            )
                        with progress_on(bus, enabled=progress and not as_json):
                            return await engine.sync(entities=entity)
                    finally:
                        await aborts.finish()
        except Stopping as exc:
            err.print(f"tandem: sync stopped: {escape(str(exc))}")
            return None

    try:
        done = run_async(once)
    except asyncio.CancelledError:
        if not signals:
            raise
        done = None
    if done is None:
        err.print(
            "tandem: the pass did not finish; what it had not committed is read again by "
            "the next sync"
        )
        raise typer.Exit(128 + signals[0])
    report = done
    if as_json:
        console.print_json(json.dumps(report.as_dict()))
    else:
        console.print(pass_table(report, "sync"))


@app.command()
def run(config: ConfigOption = DEFAULT_CONFIG, verbose: VerboseOption = False) -> None:
    """Sync continuously (or on the configured interval) until stopped (Ctrl-C / SIGTERM).

    The first signal stops the pass under way at its next batch (a pass or a start waiting, to
    try a call again as a Retry-After asks, for a Bulk job or for the API budget, is abandoned
    at once: exit code 0; a Bulk job still running gets ``stop_grace_seconds`` to complete); a
    second one stops at once (exit code 128 + the signal's number): the Bulk jobs in flight are
    aborted first, and what was not committed is read again and re-sent (idempotently) at the
    next start.
    """
    setup_logging(verbose)
    flow = load(config)
    signals: list[signal.Signals] = []

    async def forever() -> None:
        stop, now, held = asyncio.Event(), asyncio.Event(), InFlight()
        aborts = _stop_on_signals(stop, signals, "stopping at the pass's next batch", now, held)

        def on_pass(report: PassReport) -> None:
            if report.writes or report.total("dead_lettered") or report.total("conflicts"):
                console.print(
                    f"pass: {report.total('read')} read, {report.writes} written, "
                    f"{report.total('dead_lettered')} dead-lettered, "
                    f"{report.total('conflicts')} conflicts"
                )

        # A long-running agent checks the mapping against each system's schema as it is now
        # (and reports drift) once at start, whatever description an earlier run saved.
        # A wait met while starting (a Retry-After during the describe) ends on the first
        # signal too: the agent stops before its first pass, having written nothing.
        try:
            with waits_cut_short_by(stop, now, held):
                async with running_engine(flow, fresh_describe=True) as engine:
                    console.print(f"tandem: running flow [bold]{flow.name}[/bold]; Ctrl-C stops")
                    try:
                        await engine.run(stop, on_pass=on_pass)
                    finally:
                        await aborts.finish()
        except Stopping as exc:
            err.print(f"tandem: start abandoned to stop: {escape(str(exc))}")
        console.print("tandem: stopped")

    try:
        run_async(forever)
    except asyncio.CancelledError:
        if len(signals) < 2:
            raise
    else:
        if len(signals) < 2:
            return
    # A stop at once, whether it cut the pass off or the pass had just ended by itself.
    err.print(
        "tandem: stopped in the middle of a pass; what it had not committed is read "
        "again at the next start"
    )
    raise typer.Exit(128 + signals[1])


ABORT_WITHIN = 10.0
"""Seconds a second signal gives the aborts of the Bulk jobs in flight before the exit."""


class _Aborts:
    """The aborts a stop at once started; the connectors stay open until they are done."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    async def finish(self) -> None:
        """Wait for the aborts under way (none: at once). Called before the connectors
        close: an abort's call needs its connection. The last abort cancels the caller's
        task (the stop at once), which may end this wait."""
        if self.tasks:
            await asyncio.wait(set(self.tasks))


def _stop_on_signals(
    stop: asyncio.Event,
    signals: list[signal.Signals],
    doing: str,
    now: asyncio.Event,
    held: InFlight,
) -> _Aborts:
    """SIGINT / SIGTERM: the first sets ``stop`` (``doing`` says what follows); a second sets
    ``now`` (a Bulk job's grace ends), aborts the work ``held`` in flight (one call each, for
    at most :data:`ABORT_WITHIN` seconds) and then cancels the running task; ``signals`` lists
    them as they come. The aborts under way are waited for by :meth:`_Aborts.finish`."""
    main = asyncio.current_task()
    aborts = _Aborts()
    tasks = aborts.tasks

    async def abort_then_cancel() -> None:
        try:
            await held.cancel_all(ABORT_WITHIN)
        finally:
            if main is not None:
                main.cancel()

    def on_signal(sig: signal.Signals) -> None:
        signals.append(sig)
        if len(signals) == 1:
            stop.set()
            err.print(f"tandem: {sig.name}: {doing} (signal again to stop at once)")
        elif len(signals) == 2:
            now.set()
            if held:
                err.print(f"tandem: {sig.name}: aborting {len(held)} Bulk job(s) in flight")
            task = asyncio.ensure_future(abort_then_cancel())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    return aborts


def _plain(value: object) -> object:
    """JSON for what ``status`` holds besides plain values: instants in ISO 8601, cursors as
    their instant and key."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Cursor):
        return {"modified_at": value.modified_at.isoformat(), "key": value.key}
    return str(value)


@app.command()
def status(config: ConfigOption = DEFAULT_CONFIG, as_json: JsonOption = False) -> None:
    """Links, cursors, dead letters, conflicts and pending work of the flow.

    Only reads: where the flow has no state yet (nothing synced, or `state:` points
    elsewhere) it says so and exits with code 1, creating nothing.
    """
    flow = load(config)
    store = existing_state(flow)
    try:
        stats = guard(lambda: store.stats(flow.name))
    finally:
        store.close()
    if as_json:
        console.print_json(json.dumps(stats, default=_plain))
        return
    state = make_url(flow.state_url()).render_as_string(hide_password=True)
    console.print(f"flow [bold]{flow.name}[/bold] (state: {state})")
    for table in status_tables(stats):
        console.print(table)


@app.command()
def reconcile(
    config: ConfigOption = DEFAULT_CONFIG,
    heal: Annotated[bool, typer.Option("--heal", help="Repair the drift found.")] = False,
    entity: EntityOption = None,
    as_json: JsonOption = False,
    progress: Annotated[bool, typer.Option(help="Show how many records were compared.")] = True,
    verbose: VerboseOption = False,
) -> None:
    """Compare both systems record by record; report drift; --heal repairs it.

    With --heal, the queued records are read again from both systems after the repair pass
    and compared as before; those that still differ are listed under "still drifting".

    Exit code, as with diff: 0 when the systems agree (with --heal: every difference found
    was repaired, as both systems read afterwards); 1 when differences remain: without
    --heal, any difference; with --heal, one it could not queue for repair (an unmappable
    record, say), or a queued one that still differs or is still missing on one side after
    the repair pass, or is held by an open dead letter or conflict. An error exits with 1 too
    (its message on stderr), a config error with 2.
    """
    setup_logging(verbose)
    flow = load(config)
    bus = EventBus()

    async def compare() -> ReconcileReport:
        async with running_engine(flow, bus=bus, claim=heal) as engine:
            with compare_progress_on(bus, enabled=progress and not as_json):
                return await run_reconcile(engine, heal=heal, entities=entity)

    report = run_async(compare)
    remaining = report.unrepaired if heal else report.differences
    if as_json:
        data = {
            "differences": report.differences,
            "healed": report.healed,
            "remaining": remaining,
            "repair": report.repair.as_dict() if report.repair is not None else None,
            "entities": {
                name: {
                    "erp_records": c.erp_records,
                    "crm_records": c.crm_records,
                    "in_sync": c.in_sync,
                    "archived": c.archived,
                    "kept_apart": c.kept_apart,
                    "crm_only": c.crm_only,
                    "drift": c.drift,
                }
                for name, c in report.entities.items()
            },
            **{
                name: [
                    {
                        "entity": d.entity,
                        "kind": d.kind,
                        "erp_key": d.erp_key,
                        "crm_key": d.crm_key,
                        "fields": {k: [str(a), str(b)] for k, (a, b) in d.fields.items()},
                        "message": d.message,
                    }
                    for d in drifts
                ]
                for name, drifts in (
                    ("drifts", report.drifts),
                    ("still_drifting", report.still_drifting),
                )
            },
        }
        console.print_json(json.dumps(data))
    else:
        console.print(reconcile_table(report))
        listed = [("", report.drifts)]
        if report.still_drifting:
            listed.append(("still drifting after the repair pass:", report.still_drifting))
        for title, drifts in listed:
            if title:
                console.print(title)
            for drift in drifts[:20]:
                console.print(
                    f"  {drift.kind}: {drift.entity} erp={drift.erp_key} "
                    f"crm={drift.crm_key} {drift.fields or drift.message}"
                )
        summary = f"{report.differences} differences"
        if heal:
            summary += f", {report.healed} queued for repair"
            if report.repair is not None:
                repair = report.repair
                dead = repair.total("dead_lettered")
                summary += f": {repair.writes} written, {dead} dead-lettered"
            if remaining:
                summary += f"; {remaining} not repaired"
        console.print(summary)
    if remaining:
        raise typer.Exit(1)
