"""The change log's triggers on MySQL / MariaDB."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from tandem.connectors.base import KEY_LENGTH
from tandem.connectors.sql.capture.common import (
    OPS,
    KeyKind,
    _Dialect,
    _lit,
    _trigger_name,
)

log = logging.getLogger(__name__)


class _Mysql(_Dialect):
    NOW = (
        "TIMESTAMPADD(MICROSECOND, TIMESTAMPDIFF(MICROSECOND, NOW(6), UTC_TIMESTAMP(6)), "
        "SYSDATE(6))"
    )
    """The UTC time at which the trigger runs.

    ``UTC_TIMESTAMP(6)`` and ``NOW(6)`` are the time the *statement* began: an UPDATE that
    waited on a row lock would be stamped behind rows committed meanwhile, where a reader that
    passed them never looks again. ``SYSDATE(6)`` is the time of the call, in the session's time
    zone; ``UTC_TIMESTAMP(6) - NOW(6)`` (one instant, read twice) is that zone's offset.
    """
    KINDS = frozenset(
        {"integer", "zerofill", "decimal", "text", "uuid", "date", "datetime", "instant"}
    )
    REFUSED = (
        "its values have no text that Tandem can make equal to the reader's (a TIME holds "
        "durations, negative or over 24 hours, that the reader turns into a time of day)"
    )

    def __init__(self, engine: sa.Engine, changelog: str, schema: str | None, channel: str):
        super().__init__(engine, changelog, schema, channel)
        self.mariadb = bool(getattr(engine.dialect, "is_mariadb", False))

    def create_changelog(self) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {self.q(self.changelog)} ("
            "seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "table_name VARCHAR(128) NOT NULL, "
            f"row_key VARCHAR({KEY_LENGTH}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
            "op CHAR(1) NOT NULL, changed_at DATETIME(6) NOT NULL, "
            f"KEY {self.prep.quote(self.changelog + '_pos')} "
            "(table_name, changed_at, row_key, seq), "
            f"KEY {self.prep.quote(self.changelog + '_row')} (table_name, row_key)"
            ") ENGINE=InnoDB",
            # The oldest write transaction open at each read that saw one
            # (:mod:`tandem.connectors.sql.late`).
            f"CREATE TABLE IF NOT EXISTS {self.q(self.reads)} ("
            "seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, taken_at DATETIME(6) NOT NULL, "
            f"held_at DATETIME(6) NOT NULL, KEY {self.prep.quote(self.reads + '_at')} (taken_at)"
            ") ENGINE=InnoDB",
        ]

    def lit(self, value: str) -> str:
        """A backslash in a MariaDB literal is an escape (unless the session's ``sql_mode``
        has ``NO_BACKSLASH_ESCAPES``): a name with one is written as its UTF-8 bytes."""
        if "\\" not in value:
            return _lit(value)
        return f"CONVERT(X'{value.encode().hex()}' USING utf8mb4)"

    def key_text(self, ref: str, key: str, kind: KeyKind) -> str:
        # No '%' here: PyMySQL would take it for a parameter marker.
        col = f"{ref}.{self.prep.quote(key)}"
        if kind == "zerofill":
            return f"CAST({col} + 0 AS CHAR)"  # the number, without the padding zeros
        if kind not in ("datetime", "instant"):
            return f"CAST({col} AS CHAR)"
        # Python prints microseconds only when they are not 0, and then all six.
        fraction = f"IF(MICROSECOND({col}) = 0, '', CONCAT('.', LPAD(MICROSECOND({col}), 6, '0')))"
        if kind == "instant":
            # A TIMESTAMP reads as the writer's session time zone; its Unix time does not (for
            # a TIMESTAMP column UNIX_TIMESTAMP takes the stored value), and the epoch plus
            # those seconds is its UTC time, as the reader's UTC session returns it.
            col = (
                f"TIMESTAMPADD(SECOND, FLOOR(UNIX_TIMESTAMP({col})), "
                "TIMESTAMP'1970-01-01 00:00:00')"
            )
        return f"CONCAT(LEFT(CAST({col} AS CHAR), 19), {fraction})"

    def _insert(self, table: str, ref: str, key: str, kind: KeyKind, op: str) -> str:
        return (
            f"INSERT INTO {self.q(self.changelog)} (table_name, row_key, op, changed_at) "
            f"VALUES ({self.lit(table)}, {self.key_text(ref, key, kind)}, '{op}', {self.NOW})"
        )

    def create_triggers(self, table: str, key: str, kind: KeyKind) -> list[str]:
        t = self.q(table)
        name = {op: self.q(_trigger_name(self.changelog, table, op)) for op in OPS}
        old, new = self.key_text("OLD", key, kind), self.key_text("NEW", key, kind)
        # A row without a key (a key column made nullable after install), or with one longer
        # than the log holds, logs nothing: it is the ERP's to write, and no record can stand
        # for it. The update that gives it a key logs it then; the one that takes its key away
        # logs the old key as deleted.
        keyed, was_keyed = self.loggable("NEW", key, kind), self.loggable("OLD", key, kind)
        return [
            f"CREATE TRIGGER {name['I']} AFTER INSERT ON {t} FOR EACH ROW BEGIN IF {keyed} "
            f"THEN {self._insert(table, 'NEW', key, kind, 'I')}; END IF; END",
            # The logged texts, compared as bytes: under a case- or accent-insensitive or PAD
            # SPACE collation 'abc' and 'ABC ' compare equal, yet the row's key text has
            # changed (and two instants may read alike in the session's time zone).
            f"CREATE TRIGGER {name['U']} AFTER UPDATE ON {t} FOR EACH ROW BEGIN "
            f"IF {was_keyed} AND NOT (CAST({old} AS BINARY) <=> CAST({new} AS BINARY)) "
            f"THEN {self._insert(table, 'OLD', key, kind, 'D')}; END IF; "
            f"IF {keyed} THEN {self._insert(table, 'NEW', key, kind, 'U')}; END IF; END",
            f"CREATE TRIGGER {name['D']} AFTER DELETE ON {t} FOR EACH ROW BEGIN "
            f"IF {was_keyed} THEN {self._insert(table, 'OLD', key, kind, 'D')}; END IF; END",
        ]

    def replace_triggers(self, table: str, key: str, kind: KeyKind) -> list[str]:
        if not self.mariadb:
            return super().replace_triggers(table, key, kind)
        # DDL commits at once on MariaDB: DROP then CREATE would leave a moment in which the
        # ERP's writes are not captured. CREATE OR REPLACE swaps each trigger under the
        # table's metadata lock.
        prefix = "CREATE TRIGGER "
        return [
            "CREATE OR REPLACE TRIGGER " + stmt.removeprefix(prefix)
            for stmt in self.create_triggers(table, key, kind)
        ]

    def trigger_names_sql(self) -> str:
        schema = self.lit(self.schema) if self.schema else "DATABASE()"
        return (
            f"SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {schema}"
        )

    def install_more(
        self, conn: sa.Connection, targets: Sequence[tuple[str, str, KeyKind]]
    ) -> None:
        """Install the triggers that log the rows a foreign key's action deletes or changes
        in each target (:func:`cascade_triggers`), dropping those of actions gone since; warn
        of what they cannot cover (:func:`warn_cascades`)."""
        names = {str(r[0]) for r in conn.exec_driver_sql(self.trigger_names_sql())}
        for table, key, kind in targets:
            fks = foreign_keys(conn, self, table)
            wanted = cascade_triggers(self, fks, key, kind)
            for name in sorted(_cascade_names(self.changelog, table, names) - set(wanted)):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {self.q(name)}")
            for name, stmt in wanted.items():
                if self.mariadb:  # swapped under the table's metadata lock (replace_triggers)
                    stmt = "CREATE OR REPLACE TRIGGER " + stmt.removeprefix("CREATE TRIGGER ")
                else:
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {self.q(name)}")
                conn.exec_driver_sql(stmt)
        warn_cascades(conn, self, [(table, key) for table, key, _ in targets])

    def uninstall_more(self, conn: sa.Connection, tables: Sequence[str]) -> None:
        """Drop the triggers on other tables that log the rows of ``tables`` a foreign key's
        action deletes or changes."""
        names = {str(r[0]) for r in conn.exec_driver_sql(self.trigger_names_sql())}
        for table in tables:
            for name in sorted(_cascade_names(self.changelog, table, names)):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {self.q(name)}")

    def missing_more(
        self, conn: sa.Connection, targets: Sequence[tuple[str, str | None]]
    ) -> dict[str, list[str]]:
        """The triggers on parent tables that :func:`cascade_triggers` makes for ``targets``
        and that are missing (dropped by hand, or lost when the parent was rebuilt), by
        table. A target without its key column (``None``) is checked for the ``DELETE``
        ones only: whether an ``ON UPDATE`` action is logged depends on the key
        (:meth:`ForeignKey.covers`)."""
        names = {str(r[0]) for r in conn.exec_driver_sql(self.trigger_names_sql())}
        missing: dict[str, list[str]] = {}
        for table, key in targets:
            for fk in foreign_keys(conn, self, table):
                for event, rule in fk.acts():
                    if key is None and event != "DELETE":
                        continue
                    name = _cascade_name(self.changelog, table, fk.name, event)
                    if name in names or not fk.covers(event, rule, key or ""):
                        continue
                    said = (
                        f"trigger {name} on {fk.parent} (foreign key {fk.name} ON {event} {rule})"
                    )
                    lacking = missing.setdefault(table, [])
                    if said not in lacking:  # a table named twice (with and without its key)
                        lacking.append(said)
        return missing

    def prune(self, engine: sa.Engine, cutoff: datetime) -> int:
        """Delete the entries (and reads) logged before ``cutoff``; return how many entries
        went.

        In ``READ COMMITTED``, and :data:`PRUNE_CHUNK` entries per transaction, holding up no
        write of the ERP: in the server's default ``REPEATABLE READ`` the delete, which scans
        the log (no index leads with ``changed_at``), would next-key lock every entry and the
        gap after the last, where each capture trigger inserts, and every write of the ERP to a
        captured table would wait for the prune to commit (or fail, ``Lock wait timeout
        exceeded``). Needs ``binlog_format`` ``ROW`` or ``MIXED`` (the default) where the
        server keeps a binary log.
        """
        committed = engine.execution_options(isolation_level="READ COMMITTED")
        delete = sa.text(
            f"DELETE FROM {self.q(self.changelog)} WHERE changed_at < :cutoff ORDER BY seq LIMIT :n"
        )
        pruned = 0
        while True:
            with committed.begin() as conn:
                gone = int(conn.execute(delete, {"cutoff": cutoff, "n": PRUNE_CHUNK}).rowcount)
            pruned += gone
            if gone < PRUNE_CHUNK:
                break
        with committed.begin() as conn:
            self.prune_reads(conn, cutoff)
        return pruned


PRUNE_CHUNK = 10_000
"""The most change-log entries one transaction of a MariaDB prune deletes."""


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A foreign key of a captured (child) table, as ``information_schema`` describes it.

    Attributes:
        name: the constraint's name (unique in its database).
        child: the table that has the foreign key.
        parent: the table it references.
        on_delete: its ``DELETE_RULE`` (``CASCADE``, ``SET NULL``, ``RESTRICT``, ...).
        on_update: its ``UPDATE_RULE``.
        columns: the child's columns, in the key's order.
        referenced: the parent's columns they reference, in the same order.
        elsewhere: the parent is in another database than the child.
    """

    name: str
    child: str
    parent: str
    on_delete: str
    on_update: str
    columns: tuple[str, ...]
    referenced: tuple[str, ...]
    elsewhere: bool

    def acts(self) -> list[tuple[str, str]]:
        """The ``(event, rule)`` pairs whose action deletes or changes child rows."""
        return [
            (event, rule)
            for event, rule in (("DELETE", self.on_delete), ("UPDATE", self.on_update))
            if rule in _ACTIONS
        ]

    def covers(self, event: str, rule: str, key: str) -> bool:
        """Whether :func:`cascade_triggers` logs the child rows of this action (keyed by the
        child's ``key`` column).

        Not ``SET DEFAULT`` (InnoDB refuses it), nor a parent in another database, nor an
        ``ON UPDATE`` action that changes the child's own key column: the rows would have to
        be logged under their new key as well as deleted under the old.
        """
        if rule not in _LOGGED or self.elsewhere:
            return False
        return event == "DELETE" or key not in self.columns

    def changes(self, columns: Iterable[str]) -> bool:
        """Whether one of this key's actions changes (or deletes) child rows' ``columns``."""
        sets = self.on_delete == "SET NULL" or self.on_update in _ACTIONS
        return self.on_delete == "CASCADE" or (sets and bool(set(columns) & set(self.columns)))


def foreign_keys(conn: sa.Connection, d: _Dialect, table: str) -> list[ForeignKey]:
    """The foreign keys of ``table``, by name."""
    query = sa.text(
        "SELECT r.CONSTRAINT_NAME, r.REFERENCED_TABLE_NAME, r.DELETE_RULE, r.UPDATE_RULE, "
        "k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME, "
        "r.UNIQUE_CONSTRAINT_SCHEMA <> r.CONSTRAINT_SCHEMA "
        "FROM information_schema.REFERENTIAL_CONSTRAINTS r "
        "JOIN information_schema.KEY_COLUMN_USAGE k "
        "ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA AND k.TABLE_NAME = r.TABLE_NAME "
        "AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME AND k.REFERENCED_COLUMN_NAME IS NOT NULL "
        "WHERE r.CONSTRAINT_SCHEMA = COALESCE(:schema, DATABASE()) AND r.TABLE_NAME = :table "
        "ORDER BY r.CONSTRAINT_NAME, k.ORDINAL_POSITION"
    )
    rows = conn.execute(query, {"schema": d.schema, "table": table}).all()
    found: dict[str, ForeignKey] = {}
    for name, parent, on_delete, on_update, column, referenced, elsewhere in rows:
        was = found.get(name)
        found[name] = ForeignKey(
            str(name),
            table,
            str(parent),
            str(on_delete),
            str(on_update),
            (*(was.columns if was else ()), str(column)),
            (*(was.referenced if was else ()), str(referenced)),
            bool(elsewhere),
        )
    return list(found.values())


def cascade_triggers(
    d: _Dialect, fks: Iterable[ForeignKey], key: str, kind: KeyKind
) -> dict[str, str]:
    """The triggers on the parent tables of ``fks`` that log the child rows their actions
    delete or change (``CREATE TRIGGER`` statements by trigger name).

    One per foreign key and event, named after the child table (:func:`_cascade_name`): a
    ``BEFORE DELETE`` trigger logs, for ``ON DELETE CASCADE``, each child row that references
    the deleted row as deleted (``D``), for ``SET NULL`` as updated (``U``); a ``BEFORE
    UPDATE`` trigger logs, when a referenced column's value changes (byte for byte, as InnoDB
    compares them), each child row referencing the old values as updated. The key is the
    child's ``key`` column, rendered as its own triggers render it (:meth:`key_text`). If the
    parent's row is not deleted or changed after all, the statement is undone with the rows
    its triggers logged.
    """
    child = "tandem_child"
    q = d.prep.quote
    triggers = {}
    for fk in fks:
        for event, rule in fk.acts():
            if not fk.covers(event, rule, key):
                continue
            name = _cascade_name(d.changelog, fk.child, fk.name, event)
            op = "D" if (event, rule) == ("DELETE", "CASCADE") else "U"
            refs = " AND ".join(
                f"{child}.{q(col)} = OLD.{q(ref)}"
                for col, ref in zip(fk.columns, fk.referenced, strict=True)
            )
            body = (
                f"INSERT INTO {d.q(d.changelog)} (table_name, row_key, op, changed_at) "
                f"SELECT {d.lit(fk.child)}, {d.key_text(child, key, kind)}, '{op}', {d.NOW} "
                f"FROM {d.q(fk.child)} {child} WHERE {refs} AND {d.loggable(child, key, kind)}"
            )
            if event == "UPDATE":
                changed = " OR ".join(
                    f"NOT (CAST(OLD.{q(ref)} AS BINARY) <=> CAST(NEW.{q(ref)} AS BINARY))"
                    for ref in fk.referenced
                )
                body = f"IF {changed} THEN {body}; END IF"
            triggers[name] = (
                f"CREATE TRIGGER {d.q(name)} BEFORE {event} ON {d.q(fk.parent)} "
                f"FOR EACH ROW BEGIN {body}; END"
            )
    return triggers


def _cascade_name(changelog: str, child: str, constraint: str, event: str) -> str:
    """The name of the trigger logging the rows of ``child`` that its foreign key
    ``constraint``'s action on ``event`` deletes or changes: the change log's trigger name
    for ``child`` (:func:`_trigger_name`), with ``x``, ``d`` or ``u`` and six hex digits of
    the constraint's name for the operation (never a row trigger's one letter)."""
    tag = hashlib.sha1(constraint.encode()).hexdigest()[:6]
    return _trigger_name(changelog, child, f"x{event[0].lower()}{tag}")


def _cascade_names(changelog: str, child: str, names: Iterable[str]) -> set[str]:
    """Those of ``names`` that :func:`_cascade_name` gives for ``child``."""
    prefix = _cascade_name(changelog, child, "", "d")[:-8]
    pattern = re.compile(re.escape(prefix) + "x[du][0-9a-f]{6}")
    return {name for name in names if pattern.fullmatch(name)}


def warn_cascades(conn: sa.Connection, d: _Dialect, tables: Iterable[tuple[str, str]]) -> None:
    """Name, in a warning, each foreign key of ``tables`` (table, key column) whose action
    changes their rows and whose changes :func:`cascade_triggers` does not log.

    InnoDB runs ``ON DELETE CASCADE`` / ``SET NULL`` and ``ON UPDATE CASCADE`` / ``SET NULL``
    below the SQL layer, and fires no trigger for the rows they delete or change: a trigger
    on the parent logs them, but not where :meth:`ForeignKey.covers` says no, nor when the
    parent's rows are themselves deleted or changed by the action of one of the parent's own
    foreign keys (InnoDB fires the parent's triggers no more than the child's).
    """
    for table, key in tables:
        for fk in foreign_keys(conn, d, table):
            acts = fk.acts()
            missed = [
                f"ON {event} {rule}" for event, rule in acts if not fk.covers(event, rule, key)
            ]
            if missed:
                log.warning(
                    "table %r: foreign key %r to %r (%s): InnoDB fires no trigger for the rows "
                    "a foreign key's action deletes or changes, and Tandem cannot log these "
                    "(SET DEFAULT, a parent in another database, or an update of the table's "
                    "key column), so they are not in the change log and only `tandem "
                    "reconcile` finds them (have the ERP delete or change such rows itself, or "
                    "make the foreign key RESTRICT)",
                    table,
                    fk.name,
                    fk.parent,
                    ", ".join(missed),
                )
            covered = [(e, r) for e, r in acts if fk.covers(e, r, key)]
            if not covered:
                continue
            for feeder in foreign_keys(conn, d, fk.parent):
                fed = [
                    f"ON {event} {rule}"
                    for event, rule in covered
                    if (event == "DELETE" and feeder.on_delete == "CASCADE")
                    or (event == "UPDATE" and feeder.changes(fk.referenced))
                ]
                if fed:
                    log.warning(
                        "table %r: foreign key %r to %r (%s): the rows of %r that its foreign "
                        "key %r deletes or changes fire no trigger either, so the rows of %r "
                        "this deletes or changes in turn are not in the change log and only "
                        "`tandem reconcile` finds them (have the ERP delete or change such rows "
                        "itself, or make one of the foreign keys RESTRICT)",
                        table,
                        fk.name,
                        fk.parent,
                        ", ".join(fed),
                        fk.parent,
                        feeder.name,
                        table,
                    )


_ACTIONS = frozenset({"CASCADE", "SET NULL", "SET DEFAULT"})
"""Foreign-key rules that change the referencing rows."""

_LOGGED = frozenset({"CASCADE", "SET NULL"})
"""The rules whose changes :func:`cascade_triggers` logs."""
