"""The change log's triggers on MySQL / MariaDB."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from tandem.connectors.base import KEY_LENGTH
from tandem.connectors.sql.capture.cascades import (
    ForeignKey,
    ForeignKeysOf,
    _cascade_names,
    cascade_triggers,
    chains,
    fk_lookup,
    parent_triggers,
)
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
        fks_of = fk_lookup(conn, self)
        for table, key, kind in targets:
            wanted = cascade_triggers(self, fks_of(table), key, kind, fks_of)
            for name in sorted(_cascade_names(self.changelog, table, names) - set(wanted)):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {self.q(name)}")
            for name, stmt in wanted.items():
                if self.mariadb:  # swapped under the table's metadata lock (replace_triggers)
                    stmt = "CREATE OR REPLACE TRIGGER " + stmt.removeprefix("CREATE TRIGGER ")
                else:
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {self.q(name)}")
                conn.exec_driver_sql(stmt)
        warn_cascades(fks_of, [(table, key) for table, key, _ in targets])

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
        ones only (:func:`parent_triggers`)."""
        names = {str(r[0]) for r in conn.exec_driver_sql(self.trigger_names_sql())}
        fks_of = fk_lookup(conn, self)
        missing: dict[str, list[str]] = {}
        for table, key in targets:
            for t in parent_triggers(self.changelog, fks_of(table), key, fks_of):
                if t.name in names:
                    continue
                said = t.said()
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


def warn_cascades(fks_of: ForeignKeysOf, tables: Iterable[tuple[str, str]]) -> None:
    """Name, in a warning, each foreign key of ``tables`` (table, key column) whose action
    changes their rows and whose changes :func:`cascade_triggers` does not log.

    InnoDB runs ``ON DELETE CASCADE`` / ``SET NULL`` and ``ON UPDATE CASCADE`` / ``SET NULL``
    below the SQL layer, and fires no trigger for the rows they delete or change: a trigger
    on the parent logs them, and one on each table whose ``ON DELETE CASCADE`` reaches the
    parent (:func:`chains`), but not where :meth:`ForeignKey.covers` says no, nor where such
    a chain leads to another database or round a cycle of tables, nor when the parent's
    referenced columns are changed by the action of one of the parent's own foreign keys
    (InnoDB fires the parent's triggers no more than the child's).
    """
    for table, key in tables:
        for fk in fks_of(table):
            missed = [
                f"ON {event} {rule}" for event, rule in fk.acts() if not fk.covers(event, rule, key)
            ]
            if missed:
                log.warning(
                    "table %r: foreign key %r to %r (%s): InnoDB fires no trigger for the rows "
                    "a foreign key's action deletes or changes, and Tandem cannot log these "
                    "(SET DEFAULT, a parent in another database, or an ON UPDATE CASCADE of "
                    "the table's key column from a column of another type, such as CHAR to "
                    "VARCHAR), so they are not in the change log and only `tandem reconcile` "
                    "finds them (have the ERP delete or change such rows itself, or make the "
                    "foreign key RESTRICT)",
                    table,
                    fk.name,
                    fk.parent,
                    ", ".join(missed),
                )
            for event, rule in [(e, r) for e, r in fk.acts() if fk.covers(e, r, key)]:
                for above, feeder in _unlogged_feeders(fk, event, fks_of):
                    log.warning(
                        "table %r: foreign key %r to %r (%s): the rows of %r that its foreign "
                        "key %r deletes or changes fire no trigger either, so the rows of %r "
                        "this deletes or changes in turn are not in the change log and only "
                        "`tandem reconcile` finds them (have the ERP delete or change such rows "
                        "itself, or make one of the foreign keys RESTRICT)",
                        table,
                        fk.name,
                        fk.parent,
                        f"ON {event} {rule}",
                        above,
                        feeder.name,
                        table,
                    )


def _unlogged_feeders(
    fk: ForeignKey, event: str, fks_of: ForeignKeysOf
) -> list[tuple[str, ForeignKey]]:
    """The foreign keys (with their table) whose action deletes or changes, without a
    trigger, the rows of ``fk``'s parent that ``fk``'s action on ``event`` follows, and
    that no trigger of :func:`parent_triggers` logs.

    ``UPDATE``: a foreign key of the parent whose action changes the referenced columns.
    ``DELETE``: an ``ON DELETE CASCADE`` up the chains from the parent (:func:`chains`;
    a self-reference is covered) to a parent in another database, or round a cycle.
    """
    if event == "UPDATE":
        return [(fk.parent, f) for f in fks_of(fk.parent) if f.sets(fk.referenced)]
    found = []
    for via in [(), *chains(fk.parent, fks_of)]:
        at = via[-1].parent if via else fk.parent
        seen = {fk.parent, *(f.parent for f in via)}
        for f in fks_of(at):
            if f.on_delete == "CASCADE" and (f.elsewhere or (f.parent in seen and f.parent != at)):
                found.append((at, f))
    return found
