"""The change log's triggers on SQLite."""

from __future__ import annotations

from tandem.connectors.sql.capture.common import (
    OPS,
    KeyKind,
    _Dialect,
    _lit,
    _trigger_name,
)


class _Sqlite(_Dialect):
    NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"
    KINDS = frozenset({"integer", "text"})
    LENGTH = "length"
    READS = False  # one writer at a time: no transaction commits behind a read
    REFUSED = (
        "SQLite keeps such values in whatever form they were written and the reader converts "
        "them, so a logged key would not find its row (declare the key INTEGER or TEXT)"
    )

    @property
    def log_schema(self) -> str | None:
        return None  # trigger bodies cannot name another schema

    def q(self, name: str) -> str:
        return self.prep.quote(name)  # trigger bodies cannot name another schema

    def create_changelog(self) -> list[str]:
        cl = self.q(self.changelog)
        return [
            f"CREATE TABLE IF NOT EXISTS {cl} (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
            "table_name TEXT NOT NULL, row_key TEXT NOT NULL, op TEXT NOT NULL, "
            "changed_at TEXT NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.q(self.changelog + '_pos')} "
            f"ON {cl} (table_name, changed_at, row_key, seq)",
            f"CREATE INDEX IF NOT EXISTS {self.q(self.changelog + '_row')} "
            f"ON {cl} (table_name, row_key)",
        ]

    def key_text(self, ref: str, key: str, kind: KeyKind) -> str:
        return f"CAST({ref}.{self.prep.quote(key)} AS TEXT)"  # an integer or text: as stored

    def _insert(self, table: str, ref: str, key: str, kind: KeyKind, op: str) -> str:
        # A row without a key, or with one longer than a record's key may be, logs nothing
        # (no record can stand for it); the update that gives it a key logs it under that
        # key, the one that takes its key away logs the old key as deleted.
        return (
            f"INSERT INTO {self.q(self.changelog)} (table_name, row_key, op, changed_at) "
            f"SELECT {_lit(table)}, {self.key_text(ref, key, kind)}, '{op}', {self.NOW} "
            f"WHERE {self.loggable(ref, key, kind)};"
        )

    def create_triggers(self, table: str, key: str, kind: KeyKind) -> list[str]:
        t, k = self.q(table), self.prep.quote(key)
        name = {op: self.q(_trigger_name(self.changelog, table, op)) for op in OPS}
        # A primary key other than INTEGER may be NULL in SQLite unless declared NOT NULL:
        # such a row is the ERP's to write, and is skipped (the reads name it).
        moved = (
            f"INSERT INTO {self.q(self.changelog)} (table_name, row_key, op, changed_at) "
            f"SELECT {_lit(table)}, {self.key_text('OLD', key, kind)}, 'D', {self.NOW} "
            # Binary: a key changed only in case under a NOCASE collation is another key.
            f"WHERE {self.loggable('OLD', key, kind)} AND OLD.{k} IS NOT NEW.{k} COLLATE BINARY;"
        )
        return [
            f"CREATE TRIGGER {name['I']} AFTER INSERT ON {t} FOR EACH ROW BEGIN "
            f"{self._insert(table, 'NEW', key, kind, 'I')} END",
            f"CREATE TRIGGER {name['U']} AFTER UPDATE ON {t} FOR EACH ROW BEGIN "
            f"{moved} {self._insert(table, 'NEW', key, kind, 'U')} END",
            f"CREATE TRIGGER {name['D']} AFTER DELETE ON {t} FOR EACH ROW BEGIN "
            f"{self._insert(table, 'OLD', key, kind, 'D')} END",
        ]

    def trigger_names_sql(self) -> str:
        return "SELECT name FROM sqlite_master WHERE type = 'trigger'"
