"""Install, uninstall, inspect and prune the change log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from tandem.connectors.base import utc
from tandem.connectors.sql.capture.common import (
    OPS,
    EngineLike,
    _Dialect,
    _engine,
    _trigger_name,
    release_table_name,
)
from tandem.connectors.sql.capture.postgres import allows_prepared
from tandem.connectors.sql.capture.registry import _dialect, changelog_table_for
from tandem.connectors.sql.capture.targets import CaptureTable, _check_tables, name_unloggable
from tandem.connectors.sql.settings import SqlSettings
from tandem.connectors.sql.upgrade import (
    pad_char_keys,
    rewrite_legacy_keys,
    zoned_text_triggers,
)


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """What is installed.

    Attributes:
        dialect: ``sqlite``, ``postgresql`` or ``mysql`` (MariaDB).
        changelog_exists: the change-log table is there.
        tables: captured table -> all three triggers present, and (MariaDB) the triggers
            on its parent tables that log the rows a foreign key's action deletes or
            changes (``missing``).
        entries: rows in the change log.
        last_seq: the highest sequence number, ``None`` when empty.
        oldest: the oldest entry's time (UTC), ``None`` when empty.
        missing: captured table -> the triggers on other tables it needs that are missing,
            each in words (trigger, table, foreign key and action); tables lacking none
            are not in it.
    """

    dialect: str
    changelog_exists: bool
    tables: Mapping[str, bool]
    entries: int
    last_seq: int | None
    oldest: datetime | None
    missing: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TriggerStatus:
    """Whether the capture triggers of some tables are in place (:func:`capture_triggers`).

    Attributes:
        tables: captured table -> all three triggers present, and (MariaDB) the triggers
            on its parent tables that log the rows a foreign key's action deletes or
            changes (``missing``).
        missing: captured table -> the triggers on other tables it needs that are missing,
            each in words (trigger, table, foreign key and action); tables lacking none
            are not in it.
    """

    tables: Mapping[str, bool]
    missing: Mapping[str, Sequence[str]] = field(default_factory=dict)


Tables = Sequence[str | tuple[str, str] | CaptureTable]
"""Tables to inspect: the :class:`CaptureTable` of a flow's bindings, ``(table, key column)``
pairs, or plain table names (key unknown)."""


def install_capture(
    engine_or_url: EngineLike,
    tables: Sequence[tuple[str, str] | CaptureTable],
    *,
    changelog_table: str = "tandem_changelog",
    notify_channel: str = "tandem_changes",
    schema: str | None = None,
    seed: bool = True,
    notify: bool | None = None,
) -> None:
    """Create the change log and (re)create the capture triggers on ``tables``.

    Args:
        engine_or_url: an engine, a URL or :class:`SqlSettings` (whose change-log name,
            channel and schema then apply).
        tables: ``(table, key column)`` pairs to capture, or the :class:`CaptureTable` of a
            flow's bindings (:func:`capture_tables`); each key column must be the table's
            single-column primary key (or another unique, non-null column).
        changelog_table: the change-log table's name.
        notify_channel: PostgreSQL NOTIFY channel.
        schema: schema (PostgreSQL) or database (MariaDB) of the tables and the change log.
        seed: log every existing row of a table that has no entry yet, so that a first
            ``read_changes(since=None)`` returns all records.
        notify: PostgreSQL: the triggers signal ``notify_channel`` on every write. ``None``:
            unless the server allows prepared transactions (:func:`allows_prepared`).

    Raises:
        ConfigError: a table or key column does not exist, or the key column does not identify
            one row by itself (one column of a composite key, a column that is not unique or
            may be NULL; a SQLite primary key not declared NOT NULL is taken: a row without a
            key is named in a warning, and neither seeded nor logged until it has one), or its
            type has no text that the triggers can write exactly as the reader reads the key
            (:func:`key_kind`: floating point, binary, JSON, ...; on SQLite anything but
            integers and text). Checked
            before any change, since a trigger naming a wrong column would make the ERP's own
            writes fail, a key shared by several rows would merge them in the log and lose
            their deletes, and a logged text that is not the reader's names no row, so that
            every change would read as a delete. For a
            :class:`CaptureTable` of a binding, a :class:`BindingError` naming its entity, the
            setting (``key``, or the one naming the table) and the native name, which
            ``FlowSpec.place`` locates in the flow file.
    """
    if isinstance(engine_or_url, SqlSettings):
        changelog_table = engine_or_url.changelog_table
        notify_channel = engine_or_url.notify_channel
        notify = engine_or_url.notify if notify is None else notify
        schema = schema or engine_or_url.db_schema
    targets = [t if isinstance(t, CaptureTable) else CaptureTable(*t) for t in tables]
    with _engine(engine_or_url) as engine, engine.begin() as conn:
        d = _dialect(engine, changelog_table, schema, notify_channel)
        if engine.dialect.name == "postgresql":
            d.notify = notify if notify is not None else not allows_prepared(conn)
            d.home = schema or str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())
        kinds = _check_tables(conn, d, targets, schema)
        for stmt in d.create_changelog():
            conn.exec_driver_sql(stmt)
        cl = changelog_table_for(d)
        # Entries an earlier release wrote: the bulk of them before any trigger is replaced
        # (on PostgreSQL that locks the ERP's table until the commit, its readers too), then
        # those its triggers wrote meanwhile.
        relog: set[str] = set()
        for target, kind in zip(targets, kinds, strict=True):
            rewrite_legacy_keys(conn, cl, target.table, kind)
            if kind == "text":  # the first release's seed of a CHAR(n) key: trimmed
                pad_char_keys(conn, cl, target.table, target.key, schema)
            names = [_trigger_name(d.changelog, target.table, op) for op in OPS]
            if zoned_text_triggers(conn, kind, names, schema):
                relog.add(target.table)
        for target, kind in zip(targets, kinds, strict=True):
            table, key = target.table, target.key
            name_unloggable(conn, d, target, kind)
            keyed = f"WHERE {d.loggable('tandem_src', key, kind)}"  # as the triggers log
            for stmt in d.replace_triggers(table, key, kind):
                conn.exec_driver_sql(stmt)
            rewrite_legacy_keys(conn, cl, table, kind)
            if table in relog:  # keys logged in the writers' time zone: every row again
                conn.exec_driver_sql(
                    f"INSERT INTO {d.q(d.changelog)} (table_name, row_key, op, changed_at) "
                    f"SELECT {d.lit(table)}, {d.key_text('tandem_src', key, kind)}, 'U', "
                    f"{d.NOW} FROM {d.q(table)} tandem_src {keyed}"
                )
            if seed:
                has = conn.execute(
                    sa.select(cl.c.seq).where(cl.c.table_name == table).limit(1)
                ).first()
                if has is None:
                    conn.exec_driver_sql(
                        f"INSERT INTO {d.q(d.changelog)} (table_name, row_key, op, changed_at) "
                        f"SELECT {d.lit(table)}, {d.key_text('tandem_src', key, kind)}, 'I', "
                        f"{d.NOW} FROM {d.q(table)} tandem_src {keyed}"
                    )
        d.install_more(
            conn, [(t.table, t.key, kind) for t, kind in zip(targets, kinds, strict=True)]
        )
        for stmt in d.mark_release():
            conn.exec_driver_sql(stmt)


def capture_release(conn: sa.Connection, changelog: str, schema: str | None) -> int:
    """The :data:`CAPTURE_RELEASE` the change log ``changelog`` was last installed at (1 for a
    release before the mark was kept)."""
    name = release_table_name(changelog)
    if not sa.inspect(conn).has_table(name, schema=schema):
        return 1
    table = sa.table(name, sa.column("release_no"), schema=schema)
    found = conn.execute(sa.select(sa.func.max(table.c.release_no))).scalar()
    return int(found) if found is not None else 1


def uninstall_capture(
    engine_or_url: EngineLike,
    tables: Sequence[str],
    *,
    changelog_table: str = "tandem_changelog",
    schema: str | None = None,
    drop_changelog: bool = False,
) -> None:
    """Drop the capture triggers on ``tables``; with ``drop_changelog`` the log too."""
    if isinstance(engine_or_url, SqlSettings):
        changelog_table = engine_or_url.changelog_table
        schema = schema or engine_or_url.db_schema
    with _engine(engine_or_url) as engine, engine.begin() as conn:
        d = _dialect(engine, changelog_table, schema, "tandem_changes")
        for table in tables:
            for stmt in d.drop_triggers(table):
                conn.exec_driver_sql(stmt)
        d.uninstall_more(conn, tables)
        if drop_changelog:
            for stmt in d.drop_all():
                conn.exec_driver_sql(stmt)


def capture_status(
    engine_or_url: EngineLike,
    tables: Tables = (),
    *,
    changelog_table: str = "tandem_changelog",
    schema: str | None = None,
) -> CaptureStatus:
    """Report whether the change log and the triggers on ``tables`` are installed.

    ``tables``: the :class:`CaptureTable` of a flow's bindings (:func:`capture_tables`),
    ``(table, key column)`` pairs, or plain table names. On MariaDB a table is installed only
    with the triggers on its parent tables that log the rows its foreign keys' actions delete
    or change; for a plain name, whose key is unknown, only those of ``ON DELETE`` actions
    are checked (whether an ``ON UPDATE`` action is logged depends on the key column).
    """
    if isinstance(engine_or_url, SqlSettings):
        changelog_table = engine_or_url.changelog_table
        schema = schema or engine_or_url.db_schema
    with _engine(engine_or_url) as engine, engine.connect() as conn:
        d = _dialect(engine, changelog_table, schema, "tandem_changes")
        exists = sa.inspect(conn).has_table(changelog_table, schema=schema)
        triggers = _triggers(conn, d, tables)
        installed, missing = triggers.tables, triggers.missing
        entries, last, oldest = 0, None, None
        if exists:
            cl = changelog_table_for(d)
            row = conn.execute(
                sa.select(sa.func.count(), sa.func.max(cl.c.seq), sa.func.min(cl.c.changed_at))
            ).one()
            entries, last = int(row[0]), (int(row[1]) if row[1] is not None else None)
            oldest = utc(row[2]) if row[2] is not None else None
        return CaptureStatus(engine.dialect.name, exists, installed, entries, last, oldest, missing)


def capture_triggers(
    engine_or_url: EngineLike,
    tables: Tables,
    *,
    changelog_table: str = "tandem_changelog",
    schema: str | None = None,
) -> TriggerStatus:
    """Whether the capture triggers of ``tables`` are in place, as :func:`capture_status`
    says, without reading the change log itself: what ``tandem check`` and every start ask
    of each binding, where a count of a big change log's rows would be slow.

    ``tables`` as for :func:`capture_status`.
    """
    if isinstance(engine_or_url, SqlSettings):
        changelog_table = engine_or_url.changelog_table
        schema = schema or engine_or_url.db_schema
    with _engine(engine_or_url) as engine, engine.connect() as conn:
        return _triggers(conn, _dialect(engine, changelog_table, schema, "tandem_changes"), tables)


def _triggers(conn: sa.Connection, d: _Dialect, tables: Tables) -> TriggerStatus:
    """The trigger part of the status of ``tables`` (one query of the trigger names, and on
    MariaDB those of the foreign keys: :meth:`_Dialect.missing_more`)."""
    targets: dict[tuple[str, str | None], None] = {}  # in order, without repeats
    for t in tables:
        if isinstance(t, CaptureTable):
            targets[t.table, t.key] = None
        else:
            targets[(t, None) if isinstance(t, str) else (t[0], t[1])] = None
    names = {str(r[0]) for r in conn.exec_driver_sql(d.trigger_names_sql())}
    missing = d.missing_more(conn, list(targets))
    installed = {
        t: all(_trigger_name(d.changelog, t, op) in names for op in OPS) and t not in missing
        for t, _ in targets
    }
    return TriggerStatus(installed, missing)


def prune_changelog(
    engine_or_url: EngineLike,
    before: datetime,
    *,
    changelog_table: str = "tandem_changelog",
    schema: str | None = None,
) -> int:
    """Delete change-log entries older than ``before``; return how many went.

    Prune only behind every reader's cursor minus its overlap window, or changes are lost.
    The reads noted before ``before`` (:mod:`tandem.connectors.sql.late`) go too: a reader
    behind ``before`` is not served any more.
    """
    if isinstance(engine_or_url, SqlSettings):
        changelog_table = engine_or_url.changelog_table
        schema = schema or engine_or_url.db_schema
    cutoff = utc(before).replace(tzinfo=None)
    with _engine(engine_or_url) as engine:
        # MariaDB: in chunks, holding up no write of the ERP (``_Mysql.prune``)
        return _dialect(engine, changelog_table, schema, "tandem_changes").prune(engine, cutoff)
