"""Rich rendering of reports: tables where a table reads best, progress while work runs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tandem.cli.common import console
from tandem.connectors.base import Cursor
from tandem.pipeline.events import BatchDone, Event, EventBus, RecordsCompared
from tandem.pipeline.reconcile import ReconcileReport
from tandem.pipeline.report import COUNTERS, PassReport


def pass_table(report: PassReport, title: str) -> Table:
    """Counters per entity and direction (only the counters that are not zero everywhere)."""
    shown = [name for name in COUNTERS if report.total(name)] or ["read"]
    table = Table(title=title)
    table.add_column("entity")
    table.add_column("direction")
    for name in shown:
        table.add_column(name.replace("_", " "), justify="right")
    for entity, per in report.counts.items():
        for direction, counts in per.items():
            table.add_row(
                entity, direction.replace("->", "→"), *(str(counts[name]) for name in shown)
            )
    return table


def status_tables(stats: Mapping[str, Any]) -> list[Table]:
    """The flow's state: links and cursors per entity, then the queues."""
    entities = Table(title="entities")
    for column in ("entity", "linked records", "erp cursor", "crm cursor"):
        entities.add_column(column)
    cursors: Mapping[str, Mapping[str, Cursor]] = stats.get("cursors", {})
    links: Mapping[str, int] = stats.get("links", {})
    for name in sorted(set(links) | set(cursors)):
        sides = cursors.get(name, {})
        entities.add_row(
            name,
            str(links.get(name, 0)),
            *(_cursor_text(sides.get(side)) for side in ("erp", "crm")),
        )
    queues = Table(title="waiting")
    queues.add_column("what")
    queues.add_column("count", justify="right")
    for key in (
        "open_dead_letters",
        "parked_dead_letters",
        "retrying_dead_letters",
        "open_conflicts",
        "pending_work",
        "taken_work",
    ):
        queues.add_row(key.replace("_", " "), str(stats.get(key, 0)))
    last = stats.get("last_audit_at")
    queues.add_row("last write", last.isoformat(timespec="seconds") if last else "never")
    return [entities, queues]


def _cursor_text(cursor: Cursor | None) -> str:
    if cursor is None:
        return "not read yet"
    return f"{cursor.modified_at:%Y-%m-%d %H:%M:%S} {cursor.key}"


def planned_table(report: PassReport, limit: int) -> Table:
    """The first ``limit`` writes a dry run would make."""
    total = len(report.planned)
    title = f"planned writes (first {limit} of {total})" if total > limit else "planned writes"
    table = Table(title=title)
    for column in ("entity", "write to", "action", "source key", "target key", "fields"):
        table.add_column(column)
    for change in report.planned[:limit]:
        fields = ", ".join(f"{k}={v!r}" for k, v in list(change.fields.items())[:6])
        table.add_row(
            change.entity,
            change.target,
            change.action,
            change.source_key,
            change.target_key or "(new)",
            fields,
        )
    return table


def field_table(report: PassReport) -> Table:
    """How many records a dry run would change, per entity, system and field."""
    table = Table(title="changes per field")
    for column in ("entity", "write to", "field", "records"):
        table.add_column(column, justify="right" if column == "records" else "left")
    for (entity, side, name), count in sorted(report.field_changes.items()):
        table.add_row(entity, side, name, str(count))
    return table


def reconcile_table(report: ReconcileReport) -> Table:
    """Per-entity counts of a reconciliation."""
    table = Table(title="reconcile")
    columns = (
        "entity",
        "erp records",
        "crm records",
        "in sync",
        "archived",
        "kept apart",
        "crm only",
    )
    for column in (*columns, "differences"):
        table.add_column(column, justify="right" if column != "entity" else "left")
    for entity, counts in report.entities.items():
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(counts.drift.items())) or "0"
        table.add_row(
            entity,
            str(counts.erp_records),
            str(counts.crm_records),
            str(counts.in_sync),
            str(counts.archived),
            str(counts.kept_apart),
            str(counts.crm_only),
            detail,
        )
    return table


def _lines(*columns: ProgressColumn) -> Progress:
    """Live lines that stay printed: a spinner, the line's name, ``columns``, time elapsed."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        *columns,
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@contextmanager
def progress_on(bus: EventBus, enabled: bool = True) -> Iterator[None]:
    """Show a live progress line per entity and direction while a pass runs."""
    if not enabled:
        yield
        return
    progress = _lines(
        BarColumn(),
        TextColumn(
            "{task.completed} read · {task.fields[written]} written · {task.fields[failed]} failed"
        ),
    )
    tasks: dict[str, TaskID] = {}
    written: dict[str, int] = {}
    failed: dict[str, int] = {}

    def on_batch(event: Event) -> None:
        if not isinstance(event, BatchDone):
            return
        name = f"{event.entity} {event.source}→{'crm' if event.source == 'erp' else 'erp'}"
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=None, written=0, failed=0)
            written[name] = failed[name] = 0
        written[name] += event.written
        failed[name] += event.failed
        progress.update(tasks[name], advance=event.read, written=written[name], failed=failed[name])

    bus.subscribe(on_batch, BatchDone)
    with progress:
        yield


@contextmanager
def compare_progress_on(bus: EventBus, enabled: bool = True) -> Iterator[None]:
    """Show a live count of the records reconcile has read, per entity and system."""
    if not enabled:
        yield
        return
    progress = _lines(TextColumn("{task.completed} records compared"))
    tasks: dict[str, TaskID] = {}

    def on_read(event: Event) -> None:
        if not isinstance(event, RecordsCompared):
            return
        name = f"{event.entity} ({event.side})"
        if name not in tasks:
            tasks[name] = progress.add_task(name, total=None)
        progress.update(tasks[name], advance=event.records)

    bus.subscribe(on_read, RecordsCompared)
    with progress:
        yield


__all__ = [
    "compare_progress_on",
    "field_table",
    "pass_table",
    "planned_table",
    "progress_on",
    "reconcile_table",
    "status_tables",
]
