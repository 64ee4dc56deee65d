"""The change log's triggers on MySQL / MariaDB."""

from __future__ import annotations

import sqlalchemy as sa

from tandem.connectors.base import KEY_LENGTH
from tandem.connectors.sql.capture.common import (
    OPS,
    KeyKind,
    _Dialect,
    _lit,
    _trigger_name,
)


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
            f"VALUES ({_lit(table)}, {self.key_text(ref, key, kind)}, '{op}', {self.NOW})"
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
        schema = _lit(self.schema) if self.schema else "DATABASE()"
        return (
            f"SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = {schema}"
        )
