"""The trigger-maintained change log: install, inspect, prune, uninstall.

One table, ``tandem_changelog(seq, table_name, row_key, op, changed_at)``, filled by
``AFTER INSERT / UPDATE / DELETE`` row triggers on every captured ERP table. It sees hard
deletes, and an update that changes a primary key (even in case or trailing spaces only) logs
the old key as deleted. Timestamps are the UTC time at which the trigger runs, with
microseconds (SQLite: milliseconds). ``row_key`` holds the key as the reader's text of the
key column's value (:func:`tandem.connectors.sql.reader.key_text`), rendered in SQL by the
triggers and the seed alike, and uses a binary collation so that the database orders keys as
Python does. A key column whose type has no exact text is refused at install
(:func:`key_kind`). On PostgreSQL the trigger also calls ``pg_notify(channel, table_name)`` so
that a listening engine wakes at once.

Re-running :func:`install_capture` replaces the triggers (those of an earlier release too, whose
pending entries it rewrites in the reader's text: :mod:`tandem.connectors.sql.upgrade`); it is
safe at any time. Given the
tables of a flow's bindings (:func:`capture_tables`), it refuses a table or key column that does
not fit with a :class:`~tandem.errors.BindingError` naming the entity and the setting, which
``FlowSpec.place`` locates in the flow file.
"""

from __future__ import annotations

from tandem.connectors.sql.capture.common import (
    CAPTURE_RELEASE,
    OPS,
    RELEASE_GAPS,
    EngineLike,
    KeyKind,
    _Dialect,
    _engine,
    _lit,
    _trigger_name,
    changelog_table,
)
from tandem.connectors.sql.capture.kinds import key_kind
from tandem.connectors.sql.capture.mysql import _Mysql
from tandem.connectors.sql.capture.operations import (
    CaptureStatus,
    TriggerStatus,
    capture_release,
    capture_status,
    capture_triggers,
    install_capture,
    prune_changelog,
    uninstall_capture,
)
from tandem.connectors.sql.capture.postgres import _Postgres, allows_prepared, notifies
from tandem.connectors.sql.capture.registry import _dialect, changelog_table_for
from tandem.connectors.sql.capture.sqlite import _Sqlite
from tandem.connectors.sql.capture.targets import CaptureTable, _check_tables, capture_tables

__all__ = [
    "CAPTURE_RELEASE",
    "OPS",
    "RELEASE_GAPS",
    "CaptureStatus",
    "CaptureTable",
    "EngineLike",
    "KeyKind",
    "TriggerStatus",
    "_Dialect",
    "_Mysql",
    "_Postgres",
    "_Sqlite",
    "_check_tables",
    "_dialect",
    "_engine",
    "_lit",
    "_trigger_name",
    "allows_prepared",
    "capture_release",
    "capture_status",
    "capture_tables",
    "capture_triggers",
    "changelog_table",
    "changelog_table_for",
    "install_capture",
    "key_kind",
    "notifies",
    "prune_changelog",
    "uninstall_capture",
]
