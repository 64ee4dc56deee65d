"""What the audit tests share: passes killed at chosen points, ERP writers held open, new
ERP customers.

A kill is an exception raised at the point where the process would have died: before the
write-back of the other system's keys, or at the commit of a batch's state. The pass fails
there; the test then runs it again and checks that nothing is missing and nothing twice.

A write hook runs just before each write of the engine lands in one system (a user's edit
made in that very moment). A :class:`Writer` is a second ERP connection whose transaction
the test holds open and commits itself: a late commit, made exactly when the test says.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from tandem_env import Env

from tandem.connectors.base import EntityBinding, WriteOp, WriteOutcome
from tandem.pipeline.batch import BatchProcessor
from tandem.pipeline.outcome import BatchCommitter


class Killed(Exception):
    """Injected: the process died here."""


def kill_once_at_commit(monkeypatch: pytest.MonkeyPatch, entity: str, source: str) -> list[int]:
    """The next commit of a batch of ``entity`` read from ``source`` dies (once)."""
    real = BatchCommitter.commit
    hits: list[int] = []

    def commit(self: BatchCommitter, ctx: Any, side: str, *args: Any) -> None:
        if ctx.name == entity and side == source and not hits:
            hits.append(1)
            raise Killed(f"killed before committing {entity} from {source}")
        real(self, ctx, side, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(BatchCommitter, "commit", commit)
    return hits


def kill_once_before_write_back(
    monkeypatch: pytest.MonkeyPatch, entity: str, source: str
) -> list[int]:
    """The next batch of ``entity`` read from ``source`` dies after the target's write,
    before the target's keys are written back to ``source`` (once)."""
    real = BatchProcessor._write_back
    hits: list[int] = []

    async def write_back(self: BatchProcessor, ctx: Any, side: str, *args: Any) -> None:
        if ctx.name == entity and side == source and not hits:
            hits.append(1)
            raise Killed(f"killed before the write-back of {entity} to {source}")
        await real(self, ctx, side, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(BatchProcessor, "_write_back", write_back)
    return hits


def new_customer(env: Env, key: int, number: str) -> None:
    """Insert ERP customer ``key`` (ERP number ``number``, a valid NIP, in Gdynia)."""
    env.erp(
        "INSERT INTO customers (id, number, name, nip, city, country_code) "
        "VALUES (:id, :number, :name, '5260250274', 'Gdynia', 'PL')",
        id=key,
        number=number,
        name=f"New {key}",
    )


class Writer:
    """A second ERP connection whose transaction the test holds open and commits itself."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)
        self.conn = self.engine.connect()
        self.conn.begin()

    def run(self, sql: str, **params: object) -> None:
        self.conn.execute(sa.text(sql), params)

    def commit(self) -> None:
        self.conn.commit()
        self.close()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()


def open_writer(env: Env, writers: list[Writer]) -> Writer:
    """A :class:`Writer` on ``env``'s ERP, kept in ``writers`` (the fixture closes what the
    test left open)."""
    writer = Writer(env.erp_url)
    writers.append(writer)
    return writer


def age_log(env: Env, seconds: float = 60) -> None:
    """Move every committed change-log entry ``seconds`` back: the last pass long ago.

    The initial load writes each customer's CRM id back to the ERP, which logs an entry of
    every row; left at its time, the next pass's overlap window would re-read every row
    through those entries and hide what the test is after. Moving them back is the same as
    the test having started a minute later (PostgreSQL and MariaDB).
    """
    shift = (
        "changed_at - make_interval(secs => :s)"
        if "postgresql" in env.erp_url
        else "TIMESTAMPADD(MICROSECOND, -(:s * 1000000), changed_at)"
    )
    env.erp(f"UPDATE tandem_changelog SET changed_at = {shift}", s=seconds)


WriteHook = Callable[[EntityBinding, Sequence[WriteOp]], None]
"""Called with each write's binding and ops just before it lands."""


def before_crm_writes(engine: Any, hook: WriteHook) -> None:
    """Run ``hook`` just before each CRM write of the engine lands (the user's click)."""
    connector = engine.systems.of("crm")
    submit = connector.submit_batch

    async def submit_batch(
        binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
        hook(binding, ops)
        return await submit(binding, ops)

    connector.submit_batch = submit_batch


def before_erp_writes(engine: Any, hook: WriteHook) -> None:
    """Run ``hook`` just before each ERP write of the engine lands."""
    connector = engine.systems.of("erp")
    write = connector.write_batch

    async def write_batch(binding: EntityBinding, ops: Sequence[WriteOp]) -> list[WriteOutcome]:
        hook(binding, ops)
        return await write(binding, ops)

    connector.write_batch = write_batch
