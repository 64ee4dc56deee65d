"""Assemble a runnable engine from a flow spec: state store, connectors, mapper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tandem.config import FlowSpec
from tandem.config.loader import read_yaml
from tandem.connectors.base import Connector
from tandem.connectors.registry import create_connector
from tandem.errors import ConfigError
from tandem.pipeline.context import Systems
from tandem.pipeline.engine import Engine
from tandem.pipeline.events import EventBus
from tandem.pipeline.problems import unfit
from tandem.store import StateStore


def open_store(flow: FlowSpec) -> StateStore:
    """The flow's state store, migrated to the current schema."""
    store = StateStore(flow.state_url())
    try:
        store.migrate()
        store.bind_flow(flow.name)
    except BaseException:
        store.close()
        raise
    return store


def build_connector(flow: FlowSpec, name: str) -> Connector:
    """The connector of connection ``name`` (``erp`` or ``crm``), not yet opened."""
    try:
        connection = flow.connections[name]
    except KeyError:
        raise ConfigError(
            f"the flow has no connection named {name!r}", field="connections"
        ) from None
    try:
        return create_connector(connection.type, connection.resolved_settings())
    except ConfigError as exc:
        if exc.file is not None:
            raise
        raise _at_connection(flow, name, exc) from exc


def _at_connection(flow: FlowSpec, name: str, error: ConfigError) -> ConfigError:
    """A connector's settings error, located in the flow file (file, line, dotted field)."""
    path: tuple[str, ...] = ("connections", name)
    if error.field:
        path = (*path, *error.field.split("."))
    line = None
    if flow.source_file is not None:
        try:
            _, lines = read_yaml(Path(flow.source_file).read_text(encoding="utf-8"))
        except (OSError, ConfigError):
            lines = {}
        for end in range(len(path), 1, -1):
            line = lines.get(path[:end])
            if line is not None:
                break
    return ConfigError(error.detail, file=flow.source_file, line=line, field=".".join(path))


@asynccontextmanager
async def running_engine(
    flow: FlowSpec,
    *,
    bus: EventBus | None = None,
    check: bool = True,
    claim: bool = True,
    fresh_describe: bool = False,
    keep_schema: bool | None = None,
    audit: bool = False,
) -> AsyncIterator[Engine]:
    """Open the store and both connectors, describe and check the mapping, yield the engine.

    Args:
        flow: the flow spec.
        bus: where the engine publishes its events.
        check: refuse to start when the mapping does not fit the systems' schemas.
        claim: make this engine the only one writing for the flow until the block ends
            (commands that only read, such as ``check`` and ``plan``, do not claim).
        fresh_describe: describe every object even if a young saved description exists.
        keep_schema: keep the new descriptions in the store, so the next run reports drift
            against them. By default a command keeps them when it claims the flow (it
            writes) or describes afresh (``check``, which reports the drift it found); one
            that does neither (``plan``, ``reconcile`` without ``--heal``) writes nothing,
            and the drift it found is still the next sync's to report.
        audit: add what the connectors find wrong or unguarded in the bindings' setup
            (``check``: an audit may cost a bounded look at the data).

    Raises:
        ConfigError: the mapping does not fit the systems' schemas (nothing was written).
        StoreError: another engine is syncing the flow.
    """
    store = open_store(flow)
    erp = build_connector(flow, "erp")
    crm = build_connector(flow, "crm")
    try:
        await erp.open()
        await crm.open()
        engine = Engine(flow, store, Systems(erp=erp, crm=crm), bus=bus)
        if claim:
            engine.claim()
        try:
            keep = (claim or fresh_describe) if keep_schema is None else keep_schema
            problems = await engine.prepare(fresh=fresh_describe, keep=keep, audit=audit)
            if problems and check:
                raise unfit(problems)
            yield engine
        finally:
            engine.release()
    finally:
        await erp.close()
        await crm.close()
        store.close()


__all__ = ["build_connector", "open_store", "running_engine"]
