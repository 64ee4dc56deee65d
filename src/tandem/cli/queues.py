"""Commands for what waits for a person: dead letters and conflicts."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tandem.cli.common import (
    DEFAULT_CONFIG,
    ConfigOption,
    console,
    err,
    existing_state,
    guard,
    load,
    no_state,
    open_state,
    run_async,
)
from tandem.config import FlowSpec, Side
from tandem.pipeline.current import Now, current_values, shown
from tandem.pipeline.resolve import (
    SIDE_NAMES,
    Resolution,
    Resolved,
    apply_resolution,
    drop_conflicts,
)
from tandem.pipeline.runtime import running_engine
from tandem.store import Conflict, DeadLetter, StateStore

deadletters_app = typer.Typer(help="Records that could not be synced.", no_args_is_help=True)
conflicts_app = typer.Typer(help="Fields changed on both sides.", no_args_is_help=True)

StatusOption = Annotated[str, typer.Option(help="open, retrying, resolved, dropped or all.")]
IdsArgument = Annotated[list[int] | None, typer.Argument(help="Ids; none means all open ones.")]


@deadletters_app.command("list")
def deadletters_list(
    config: ConfigOption = DEFAULT_CONFIG,
    status: StatusOption = "open",
    entity: Annotated[str | None, typer.Option()] = None,
    limit: int = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List dead letters with the system's message.

    Where the flow has no state yet it says so and exits with code 1, creating nothing (as
    do the other deadletters and conflicts commands).
    """
    flow = load(config)
    store = existing_state(flow)
    try:
        rows = guard(
            lambda: store.dead_letters(
                flow=flow.name,
                status=None if status == "all" else status,
                entity=entity,
                limit=limit,
            )
        )
    finally:
        store.close()
    if as_json:
        console.print_json(json.dumps([row.__dict__ for row in rows], default=str))
        return
    # one status listed: the title says it; several: each row says its own
    mixed = status == "all"
    table = Table(title=f"dead letters ({status})")
    columns = ["id", "entity", "from", "record", "field", "value", "message", "tries"]
    for column in [*columns, "status"] if mixed else columns:
        table.add_column(column)
    for row in rows:
        cells = [
            str(row.id),
            row.entity,
            row.side,
            row.record_key,
            row.field or "",
            row.value or "",
            row.message,
            str(row.attempts),
        ]
        table.add_row(*cells, *([row.status] if mixed else []))
    console.print(table)


def _select(store: StateStore, flow: FlowSpec, ids: list[int] | None) -> list[DeadLetter]:
    if ids:
        return [row for row in store.dead_letters_by_id(ids) if row.flow == flow.name]
    return store.dead_letters(flow=flow.name, status="open", limit=100_000)


@deadletters_app.command("retry")
def deadletters_retry(config: ConfigOption = DEFAULT_CONFIG, ids: IdsArgument = None) -> None:
    """Queue dead letters for another try; the next sync re-reads them from their source.

    Without ids: every open letter. A resolved letter is named and left as it is; a dropped
    one named by its id is queued again (and said so); an id the flow has no dead letter
    under is an error (exit code 1), and so is a flow with no state yet.
    """
    flow = load(config)
    store = existing_state(flow)
    try:
        rows = guard(lambda: _select(store, flow, ids))
        todo = [row for row in rows if row.status != "resolved"]
        guard(lambda: _queue(store, flow, todo))
    finally:
        store.close()
    for row in rows:
        if row.status == "resolved":
            err.print(f"dead letter {row.id} is already resolved; left as it is")
        elif row.status == "dropped":
            err.print(f"dead letter {row.id} was dropped; queued again")
    unknown = _unknown(flow, ids, rows)
    console.print(f"{len(todo)} dead letters queued; the next `tandem sync` retries them")
    if unknown:
        raise typer.Exit(1)


def _queue(store: StateStore, flow: FlowSpec, letters: list[DeadLetter]) -> None:
    """Queue the records of ``letters`` to be read again, and mark the letters retrying."""
    with store.transaction():
        for row in letters:
            store.enqueue(
                flow=flow.name,
                entity=row.entity,
                side=row.side,
                record_keys=[row.record_key],
                reason=f"retry dead letter {row.id}",
            )
        if letters:
            store.set_dead_letter_status([row.id for row in letters], "retrying")


def _unknown(flow: FlowSpec, ids: list[int] | None, rows: list[DeadLetter]) -> list[int]:
    """Name each id the flow has no dead letter under (on stderr); return them."""
    unknown = sorted(set(ids or ()) - {row.id for row in rows})
    for missing in unknown:
        err.print(f"[red]error:[/red] flow {flow.name} has no dead letter {missing}")
    return unknown


@deadletters_app.command("drop")
def deadletters_drop(config: ConfigOption = DEFAULT_CONFIG, ids: IdsArgument = None) -> None:
    """Give up on dead letters (they stay in the log as dropped).

    Only open and retrying letters are dropped; a letter already dropped or resolved is named
    and left as it is, and an id the flow has no dead letter under is an error (exit code 1),
    and so is a flow with no state yet.
    """
    flow = load(config)
    store = existing_state(flow)
    try:
        rows = guard(lambda: _select(store, flow, ids))
        todo = [row for row in rows if row.status in ("open", "retrying")]
        if todo:
            guard(lambda: store.set_dead_letter_status([row.id for row in todo], "dropped"))
    finally:
        store.close()
    dropped = {row.id for row in todo}
    for row in rows:
        if row.id not in dropped:
            err.print(f"dead letter {row.id} is already {row.status}; left as it is")
    unknown = _unknown(flow, ids, rows)
    console.print(f"{len(todo)} dead letters dropped")
    if unknown:
        raise typer.Exit(1)


@conflicts_app.command("list")
def conflicts_list(
    config: ConfigOption = DEFAULT_CONFIG,
    status: Annotated[str, typer.Option(help="open, resolved or all.")] = "open",
    current: Annotated[
        bool,
        typer.Option(
            "--current",
            help="Also read both systems: the value each holds now (what resolve would write).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List fields that were changed on both sides.

    The erp and crm columns are the values each system held when the conflict was raised
    (once resolved: when it was resolved). With --current both systems are read as well,
    and the `erp now` / `crm now` columns show what each holds at this moment (an edit made
    since the conflict was raised, a record gone): the value `resolve --erp` or `--crm`
    would write.

    Where the flow has no state yet it says so and exits with code 1, creating nothing.
    """
    flow = load(config)
    store = existing_state(flow)
    try:
        rows = guard(
            lambda: store.conflicts(
                flow=flow.name, status=None if status == "all" else status, limit=500
            )
        )
    finally:
        store.close()
    now = _read_now(flow, rows) if current and rows else {}
    if as_json:
        listed = [
            {**row.__dict__, **_now_json(now[row.id])} if row.id in now else row.__dict__
            for row in rows
        ]
        console.print_json(json.dumps(listed, default=str))
        return
    table = Table(
        title=f"conflicts ({status})",
        caption="erp, crm: the values when raised (once resolved: when resolved); "
        + (
            "erp now, crm now: what each system holds now, what resolve --erp/--crm writes"
            if current
            else "resolve --erp/--crm writes the value that system holds at the time of "
            "resolving (--current shows it)"
        ),
    )
    columns = ["id", "entity", "erp key", "crm key", "field", "was", "erp", "crm"]
    if current:
        columns += ["erp now", "crm now"]
    if status != "open":
        columns += ["closed as", "value"]
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = [
            str(row.id),
            row.entity,
            row.erp_key or "",
            row.crm_key or "",
            row.field,
            shown(row.base_value),
            shown(row.erp_value),
            shown(row.crm_value),
        ]
        if current:
            cells += [now[row.id]["erp"].show(), now[row.id]["crm"].show()]
        if status != "open":
            cells += [
                row.resolution or "",
                "" if row.resolution is None else shown(row.resolved_value),
            ]
        table.add_row(*cells)
    console.print(table)


def _read_now(flow: FlowSpec, rows: list[Conflict]) -> dict[int, dict[Side, Now]]:
    """Both systems' values of the conflicts' fields now (``--current``); writes nothing."""

    async def read() -> dict[int, dict[Side, Now]]:
        async with running_engine(flow, check=False, claim=False) as engine:
            return await current_values(engine, rows)

    return run_async(read)


def _now_json(now: dict[Side, Now]) -> dict[str, object]:
    return {
        f"{side}_now": {
            "state": got.state,
            "value": got.value,
            "message": got.message,
            "modified_at": None if got.modified_at is None else got.modified_at.isoformat(),
        }
        for side, got in now.items()
    }


@conflicts_app.command("resolve")
def conflicts_resolve(
    conflict_id: Annotated[int, typer.Argument(help="The conflict's id.")],
    config: ConfigOption = DEFAULT_CONFIG,
    erp: Annotated[bool, typer.Option("--erp", help="Keep the value the ERP holds now.")] = False,
    crm: Annotated[bool, typer.Option("--crm", help="Keep the value the CRM holds now.")] = False,
    value: Annotated[str | None, typer.Option("--value", help="Write this value to both.")] = None,
) -> None:
    """Resolve a conflict: the chosen value is written to both systems now.

    --erp and --crm read that system's record afresh: an edit made after the conflict was
    raised is what gets written. When the record is gone from either system, the conflict
    is closed as moot (`deleted`) and nothing is written. An id the flow has no conflict
    under is an error (exit code 1), as with `drop`.
    """
    options: dict[Resolution, bool] = {"erp": erp, "crm": crm, "value": value is not None}
    chosen = [name for name, on in options.items() if on]
    if len(chosen) != 1:
        err.print("[red]error:[/red] give exactly one of --erp, --crm, --value")
        raise typer.Exit(2)
    resolution = chosen[0]
    flow = load(config)
    _known_conflict(flow, conflict_id)

    async def resolve() -> Resolved:
        async with running_engine(flow) as engine:
            return await apply_resolution(engine, conflict_id, resolution, value)

    result = run_async(resolve)
    conflict = result.conflict
    if result.gone:
        where = " and ".join(f"the {SIDE_NAMES[side]}" for side in result.gone)
        console.print(
            f"conflict {conflict.id} closed (deleted): the {conflict.entity} record is gone "
            f"from {where}; nothing written"
        )
        return
    for side, (then, now) in result.changed.items():
        console.print(
            f"note: the {SIDE_NAMES[side]}'s value of {conflict.field} changed since the "
            f"conflict was raised: {shown(then)} -> {shown(now)}"
        )
    console.print(
        f"conflict {conflict.id} resolved ({resolution}): {conflict.entity}.{conflict.field} = "
        f"{shown(conflict.resolved_value)} in both systems"
    )


def _known_conflict(flow: FlowSpec, conflict_id: int) -> None:
    """Exit (code 1, as ``drop`` does) naming ``conflict_id`` when the flow has no such
    conflict; creates no state store where there is none."""
    store = open_state(flow)
    if store is not None:
        try:
            conflict = guard(lambda: store.conflict(conflict_id))
        finally:
            store.close()
        if conflict is not None and conflict.flow == flow.name:
            return
    why = f" ({no_state(flow)})" if store is None else ""
    err.print(
        f"[red]error:[/red] flow {flow.name} has no conflict {conflict_id}{why}", soft_wrap=True
    )
    raise typer.Exit(1)


@conflicts_app.command("drop")
def conflicts_drop(
    ids: Annotated[list[int], typer.Argument(help="The conflicts' ids.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Close conflicts without writing anything (they stay in the log as dropped).

    Both systems keep the values they hold. Only open conflicts are dropped; one closed
    already is named and left as it is, and an id the flow has no conflict under is an
    error (exit code 1), and so is a flow with no state yet.
    """
    flow = load(config)
    store = existing_state(flow)
    try:
        result = guard(lambda: drop_conflicts(store, flow.name, ids))
    finally:
        store.close()
    for row in result.closed:
        err.print(f"conflict {row.id} is already closed ({row.resolution}); left as it is")
    for missing in result.unknown:
        err.print(f"[red]error:[/red] flow {flow.name} has no conflict {missing}")
    console.print(f"{len(result.dropped)} conflicts dropped; nothing written")
    if result.unknown:
        raise typer.Exit(1)
