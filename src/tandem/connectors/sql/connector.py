"""The SQL-database ERP connector: the contract over a synchronous SQLAlchemy engine.

Database work runs in worker threads (``asyncio.to_thread``), one bounded query at a time, so
the event loop never blocks and memory stays bounded. Driver errors are translated at this
boundary: :class:`Retriable` (connection, deadlock, lock timeout), :class:`Fatal` (auth,
permission, missing table), per-record :class:`RecordRejected` in write outcomes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa

from tandem.connectors.base import (
    KEY_LENGTH,
    Change,
    Cursor,
    EntityBinding,
    EntitySchema,
    Finding,
    WriteOp,
    WriteOutcome,
)
from tandem.connectors.clock import ClockOffset
from tandem.connectors.sql import capture, faults, reader
from tandem.connectors.sql.clock import database_time
from tandem.connectors.sql.describe import describe_source
from tandem.connectors.sql.keys import audit_key
from tandem.connectors.sql.late import Horizon, Horizons
from tandem.connectors.sql.settings import SqlSettings, create_engine, settings_from
from tandem.connectors.sql.source import Source, resolve
from tandem.connectors.sql.wakeup import Listener, poll_until_moved
from tandem.connectors.sql.writer import write_batch
from tandem.errors import ConfigError, Fatal

T = TypeVar("T")
log = logging.getLogger(__name__)

KEYLESS_EVERY = 60.0
"""Seconds between looks for rows without a key in change-log capture (the triggers skip
them; a look is one indexed query)."""


class SqlConnector:
    """Any SQL-database ERP (SQLite, PostgreSQL via psycopg 3, MariaDB via PyMySQL).

    Args:
        settings: how to reach the database and how changes are captured, as
            :class:`SqlSettings` or the mapping of a flow's connection (secrets resolved).

    Raises:
        ConfigError: the settings mapping is invalid (the field is named).
    """

    system = "sql"

    def __init__(self, settings: SqlSettings | Mapping[str, Any]) -> None:
        if not isinstance(settings, SqlSettings):
            settings = settings_from(settings)
        self.settings = settings
        self._secrets = settings.secrets()
        self._engine: sa.Engine | None = None
        self._log: sa.Table | None = None
        self._horizons: Horizons | None = None
        self._sources: dict[tuple[Any, ...], Source] = {}
        self._listener: Listener | None = None
        self._last_seen: Any = None
        self._clock = ClockOffset()
        self._keyless: dict[str, tuple[float, str]] = {}
        """Change-log capture: per source, when its rows without a key were last looked for,
        and what the last warning named."""

    def __repr__(self) -> str:
        return f"SqlConnector({self.settings.safe_url()!r})"

    @property
    def listening(self) -> bool:
        """True when changes are signalled by PostgreSQL LISTEN/NOTIFY rather than polled."""
        return self._listener is not None

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, check the change log, start listening (PostgreSQL).

        Raises:
            Fatal: authentication or permission refused.
            Retriable: the server cannot be reached now.
        """
        if self._engine is not None:
            return
        engine = create_engine(self.settings)
        self._engine = engine
        try:
            await self._start(engine)
        except BaseException:
            await self.close()
            raise

    async def _start(self, engine: sa.Engine) -> None:
        has_log = await self._run("connect", self._has_changelog)
        self._last_seen = {}  # modified-column maxima, per bound entity
        if self.settings.capture != "changelog" or not has_log:
            return
        schema = None if engine.dialect.name == "sqlite" else self.settings.db_schema
        self._log = capture.changelog_table(self.settings.changelog_table, schema)
        self._horizons = await self._run("connect", self._late_commits, engine, self._log)
        self._last_seen = await self._run("poll", self._prober())
        if engine.dialect.name == "postgresql" and await self._run(
            "connect", self._with_conn, capture.notifies, self._log.name, schema
        ):
            self._listener = Listener(
                self.settings.sqlalchemy_url(),
                self.settings.notify_channel,
                self._secrets,
                self.settings.connect_timeout,
            )
            await self._listener.start()

    async def close(self) -> None:
        """Release the listener and the pool; safe to call twice."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        engine, self._engine = self._engine, None
        if engine is not None:
            await asyncio.to_thread(engine.dispose)
        self._sources.clear()
        self._log = None
        self._horizons = None

    # -- contract ----------------------------------------------------------------------------

    async def describe(self, binding: EntityBinding) -> EntitySchema:
        """Reflect ``binding``'s table, view or query (fresh: schema drift shows)."""
        self._sources.pop(_identity(binding), None)
        src = await self._source(binding)
        return await self._run(f"describe {binding.source}", self._with_conn, describe_source, src)

    async def audit(self, binding: EntityBinding) -> list[Finding]:
        """A key column that nothing declares unique, and the keys rows share now
        (:mod:`.keys`); with the change log installed, capture triggers the binding's table
        lacks (its own, or on MariaDB those on its parent tables)."""
        src = await self._source(binding)
        operation = f"check {binding.source}"
        found: list[Finding] = await self._run(operation, self._with_conn, audit_key, src)
        if self.settings.capture == "changelog" and self._log is not None:
            found += await self._run(operation, self._capture_gaps, binding)
        return found

    def _capture_gaps(self, binding: EntityBinding) -> list[Finding]:
        """The capture triggers ``binding``'s table lacks, as a warning at its setting (the
        triggers only: no count of the change log, which may be big, at every start)."""
        (target,) = capture.capture_tables([binding])
        status = capture.capture_triggers(
            self._require(),
            [target],
            changelog_table=self.settings.changelog_table,
            schema=self.settings.db_schema,
        )
        if status.tables.get(target.table, True):
            return []
        lacking = status.missing.get(target.table)
        what = (
            f"the triggers that log the rows foreign-key actions change: {'; '.join(lacking)}"
            if lacking
            else "its change-capture triggers"
        )
        message = (
            f"table {target.table!r} lacks {what}, so changes are missed: run "
            "`tandem erp install-capture`"
        )
        return [Finding(message, target.setting or "source")]

    async def read_changes(
        self, binding: EntityBinding, since: Cursor | None, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        """Changes strictly after ``since`` in cursor order, hard deletes included.

        With the change log a change's cursor is its entry's ``(changed_at, row key)``; with
        ``modified_column`` capture it is ``(modified column, key)``.
        """
        src = await self._source(binding)
        operation = f"read changes {binding.source}"
        if self.settings.capture == "modified_column" and src.modified is not None:
            await self._name_keyless(src, since)
        elif src.key_nullable and self._keyless_due(src):
            await self._name_keyless(src, None, again=False)
        horizon = Horizon(None, since)
        if self._horizons is not None and self.settings.capture == "changelog":
            horizon = await self._run(
                operation, self._with_conn, self._horizons.take, src.capture_name, since
            )
        # Late commits behind ``since`` first (see tandem.connectors.sql.late), then the rest.
        phases = [(None, horizon.late)] if horizon.late is not None else []
        for cursor, only in [*phases, (horizon.start, None)]:
            while True:
                changes, more = await self._run(
                    operation, self._changes, src, cursor, batch_size, horizon.upto, only
                )
                if changes:
                    yield changes
                    cursor = changes[-1].cursor
                if not more:
                    break

    async def read_all(
        self, binding: EntityBinding, batch_size: int
    ) -> AsyncIterator[Sequence[Change]]:
        """Every live record in key order, by keyset pagination (rows without a key: named in
        a warning, since no record can stand for them)."""
        src = await self._source(binding)
        await self._name_keyless(src, None)
        after: Any = None
        while True:
            changes, after, more = await self._run(
                f"read {binding.source}",
                self._with_conn,
                reader.all_batch,
                src,
                self._log,
                after,
                batch_size,
            )
            if changes:
                yield changes
            if not more:
                return

    async def read_records(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
        """The current state of ``keys`` (absent or deleted ones left out)."""
        src = await self._source(binding)
        return await self._run(
            f"read {binding.source}", self._with_conn, reader.records, src, self._log, list(keys)
        )

    async def write_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        """Apply ``ops`` in one transaction, a savepoint per op; refused records in outcomes."""
        if not ops:
            return []
        src = await self._source(binding)
        engine = self._require()
        return await self._run(
            f"write {binding.source}", write_batch, engine, src, list(ops), self._secrets
        )

    async def wait_for_change(self, timeout: float) -> bool:  # noqa: ASYNC109 (contract)
        """LISTEN on PostgreSQL; elsewhere poll the change log's (or modified columns') maximum."""
        if self._listener is not None:
            return await self._listener.wait(timeout)
        try:
            moved, self._last_seen = await poll_until_moved(
                self._prober(), self._last_seen, timeout, self.settings.poll_seconds
            )
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise faults.translate(exc, operation="poll", secrets=self._secrets) from exc
        return moved

    # -- extras ------------------------------------------------------------------------------

    async def install_capture(
        self, bindings: Sequence[EntityBinding], *, seed: bool = True
    ) -> None:
        """Install the change log and triggers for the tables behind ``bindings``."""
        tables = capture.capture_tables(bindings)
        engine = self._require()
        await self._run(
            "install capture",
            lambda: capture.install_capture(
                engine,
                tables,
                changelog_table=self.settings.changelog_table,
                notify_channel=self.settings.notify_channel,
                schema=self.settings.db_schema,
                seed=seed,
                notify=self.settings.notify,
            ),
        )
        if self._log is None and self.settings.capture == "changelog":
            await self.close()
            await self.open()
        elif self._log is not None and self._horizons is None:  # upgraded in place
            self._horizons = await self._run("connect", self._late_commits, engine, self._log)

    async def uninstall_capture(
        self, bindings: Sequence[EntityBinding], *, drop_changelog: bool = False
    ) -> None:
        """Drop the capture triggers of the tables behind ``bindings`` (the ERP's writes are
        logged no more); with ``drop_changelog`` also the change log and its tables."""
        tables = list(dict.fromkeys(t.table for t in capture.capture_tables(bindings)))
        engine = self._require()
        await self._run(
            "uninstall capture",
            lambda: capture.uninstall_capture(
                engine,
                tables,
                changelog_table=self.settings.changelog_table,
                schema=self.settings.db_schema,
                drop_changelog=drop_changelog,
            ),
        )
        if drop_changelog:
            await self.close()
            await self.open()

    async def prune_capture(self, before: datetime) -> int:
        """Delete the change-log entries (and noted reads) stamped before ``before``; how many
        entries went. Only behind every reader's cursor minus its overlap
        (:func:`tandem.pipeline.prune.prune_horizon`).

        Raises:
            ConfigError: the connection captures no change log (``modified_column``, or none
                installed).
        """
        changelog = self._log
        if self.settings.capture != "changelog" or changelog is None:
            raise ConfigError("the ERP connection has no change log to prune", field="capture")
        engine = self._require()
        return await self._run(
            "prune the change log",
            lambda: capture.prune_changelog(
                engine, before, changelog_table=changelog.name, schema=changelog.schema
            ),
        )

    async def prune_changelog(self, before: datetime) -> int:
        """Delete change-log entries older than ``before``; return how many went."""
        engine = self._require()
        return await self._run(
            "prune changelog",
            lambda: capture.prune_changelog(
                engine,
                before,
                changelog_table=self.settings.changelog_table,
                schema=self.settings.db_schema,
            ),
        )

    # -- internals ---------------------------------------------------------------------------

    def _require(self) -> sa.Engine:
        if self._engine is None:
            raise Fatal("the connector is not open", system=faults.SYSTEM, operation="use")
        return self._engine

    async def _run(self, operation: str, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise faults.translate(exc, operation=operation, secrets=self._secrets) from exc

    def _with_conn(self, fn: Callable[..., T], *args: Any) -> T:
        with self._require().connect() as conn:
            return fn(conn, *args)

    async def _source(self, binding: EntityBinding) -> Source:
        ident = _identity(binding)
        if ident not in self._sources:
            self._sources[ident] = await self._run(
                f"describe {binding.source}",
                self._with_conn,
                resolve,
                binding,
                self.settings.db_schema,
                self.settings.zone,
            )
        return self._sources[ident]

    async def _name_keyless(self, src: Source, since: Cursor | None, again: bool = True) -> None:
        """Warn of the rows a read leaves out because their key is NULL (modified since
        ``since`` in modified-column capture), naming the table, the key column and each row.

        Such a row can be neither linked, nor written back, nor told apart from another
        without a key: it is not synced, but it is not lost from sight either. ``again``
        False: not when the last warning for this source named the same rows.
        """
        if not (src.key_nullable or src.key_long):
            return
        rows, more = await self._run(
            f"read {src.binding.source}", self._with_conn, reader.keyless, src, since
        )
        shown = "; ".join(f"row {row}" for row in rows) + ("; and more" if more else "")
        name = src.binding.source
        last = self._keyless.get(name, (0.0, ""))[1]
        self._keyless[name] = (time.monotonic(), shown)
        if rows and (again or shown != last):
            log.warning(
                "%s: rows without a key are not synced (key column %r is NULL or longer than %d "
                "characters; give each row a key that fits): %s",
                name,
                src.binding.key,
                KEY_LENGTH,
                shown,
            )

    def _keyless_due(self, src: Source) -> bool:
        """Whether to look for ``src``'s rows without a key on a change-log read of its table:
        the change log's triggers skip them, so nothing else would name them; at most once a
        minute (a look at the table's key is one indexed query)."""
        if not isinstance(src.relation, sa.Table) or src.relation.name != src.capture_name:
            return False  # a view or query: named by each full read (a look would scan it)
        looked = self._keyless.get(src.binding.source)
        return looked is None or time.monotonic() - looked[0] >= KEYLESS_EVERY

    async def source_time(self) -> datetime | None:
        """The database's time now: read from the server at most once a minute, else told
        from the agent's clock and the offset that read showed."""
        if self._clock.stale():
            self._clock.note(await self._run("read the clock", self._with_conn, database_time))
        return self._clock.now()

    async def advice(self) -> list[str]:
        """What the installed change capture lacks: this release's triggers, what holds reads
        for late commits of long ERP transactions."""
        engine, changelog = self._require(), self._log
        if self.settings.capture != "changelog" or changelog is None:
            return []
        release = await self._run(
            "check", self._with_conn, capture.capture_release, changelog.name, changelog.schema
        )
        if release < capture.CAPTURE_RELEASE:
            # One release number for every database: each gap says where it applies.
            gaps = [gap for number, gap in sorted(capture.RELEASE_GAPS.items()) if number > release]
            return [
                f"{changelog.name}: the change capture was installed by an earlier release "
                f"(capture release {release}; this one installs {capture.CAPTURE_RELEASE}): run "
                f"`tandem erp install-capture` again. Until then {'; '.join(gaps)}"
            ]
        if engine.dialect.name not in ("postgresql", "mysql", "mariadb"):
            return []
        if self._horizons is None:
            return [
                f"{changelog.name}: the change log was installed by an earlier release: run "
                "`tandem erp install-capture` again, or a write transaction held open longer "
                "than overlap_seconds can be missed"
            ]
        listening = self._listener is not None and self.settings.notify is not True
        if listening and await self._run("check", self._with_conn, capture.allows_prepared):
            return [
                f"{changelog.name}: the capture triggers send NOTIFY, and this server allows "
                "prepared transactions: PostgreSQL refuses to PREPARE a transaction that wrote "
                "a captured table. Run `tandem erp install-capture` again (on such a server it "
                "installs triggers that do not NOTIFY; Tandem then polls), or set notify: true "
                "if no ERP transaction is ever prepared"
            ]
        if not await self._run("check", self._with_conn, self._horizons.can_watch):
            return [
                f"{changelog.name}: the database user cannot read "
                "information_schema.INNODB_TRX (GRANT PROCESS ON *.* TO it): a write "
                "transaction held open longer than overlap_seconds can be missed"
            ]
        return []

    def _has_changelog(self) -> bool:
        with self._require().connect() as conn:
            schema = None if conn.dialect.name == "sqlite" else self.settings.db_schema
            return sa.inspect(conn).has_table(self.settings.changelog_table, schema=schema)

    def _late_commits(self, engine: sa.Engine, changelog: sa.Table) -> Horizons | None:
        """What holds reads for late commits (:mod:`.late`), where the database has it and
        ``install-capture`` of this release made its table (else a warning, reads as before)."""
        if engine.dialect.name not in ("postgresql", "mysql", "mariadb"):
            return None
        horizons = Horizons(changelog, engine.dialect.name)
        with engine.connect() as conn:
            if sa.inspect(conn).has_table(horizons.reads.name, schema=changelog.schema):
                return horizons
        log.warning(
            "%s: the change log was installed by an earlier release: run `tandem erp "
            "install-capture` again, or a transaction held open longer than overlap_seconds "
            "can be missed",
            changelog.name,
        )
        return None

    def _changes(
        self,
        src: Source,
        since: Cursor | None,
        size: int,
        upto: datetime | None = None,
        only: sa.ColumnElement[bool] | None = None,
    ) -> tuple[list[Change], bool]:
        with self._require().connect() as conn:
            if self.settings.capture == "modified_column":
                if src.modified is None:
                    raise Fatal(
                        f"{src.binding.source}: modified_column capture needs the "
                        "modified_column option",
                        system=faults.SYSTEM,
                        operation="read changes",
                    )
                return reader.modified_batch(conn, src, since, size)
            if self._log is None:
                raise Fatal(
                    "change capture is not installed: run `tandem erp install-capture`",
                    system=faults.SYSTEM,
                    operation="read changes",
                )
            return reader.changelog_batch(conn, src, self._log, since, size, upto, only)

    def _prober(self) -> Callable[[], Any]:
        """A probe of what moves on change: the change log's last ``seq``, else the maxima of
        the modified-at columns of the entities read so far (snapshot taken on the loop)."""
        engine, log = self._require(), self._log
        watched = [(i, s.modified) for i, s in self._sources.items() if s.modified is not None]

        def probe() -> Any:
            with engine.connect() as conn:
                if log is not None:
                    return conn.execute(sa.select(sa.func.max(log.c.seq))).scalar()
                return {i: conn.execute(sa.select(sa.func.max(m))).scalar() for i, m in watched}

        return probe


def _identity(binding: EntityBinding) -> tuple[Any, ...]:
    """A hashable identity of a binding, options included (a cache key)."""
    options = tuple(sorted((k, repr(v)) for k, v in binding.options.items()))
    return (binding.name, binding.source, binding.key, binding.fields, binding.external_id, options)
