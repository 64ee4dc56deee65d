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

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from tandem.connectors.base import EntityBinding, utc
from tandem.connectors.sql.domains import NO_ENUM_DOMAIN_KEY, base_type, is_enum_domain
from tandem.connectors.sql.settings import SqlSettings, check_identifier, create_engine
from tandem.connectors.sql.upgrade import (
    pad_char_keys,
    rewrite_legacy_keys,
    zoned_text_triggers,
)
from tandem.errors import BindingError, ConfigError

EngineLike = sa.Engine | str | SqlSettings
OPS = {"I": "INSERT", "U": "UPDATE", "D": "DELETE"}

KeyKind = Literal[
    "integer",
    "zerofill",
    "decimal",
    "text",
    "uuid",
    "date",
    "datetime",
    "instant",
    "time",
    "boolean",
]
"""How a key column's values become text, by what the reader gets for them.

``integer``, ``decimal``, ``text``, ``uuid``, ``date``: the database's own text of the value is
the reader's. ``zerofill``: a MariaDB ``ZEROFILL`` number (its text would be padded, the
driver's number is not). ``datetime``: a date-time without a zone (``str()``: seconds, then
``.ffffff`` only when the microseconds are not 0). ``instant``: a PostgreSQL ``timestamptz`` or
MariaDB ``TIMESTAMP``, as its UTC time (``+00:00`` on PostgreSQL, naive on MariaDB, as the
reader's UTC session returns it), whatever the writer's session time zone. ``time``: a time of
day. ``boolean``: ``True`` / ``False``.
"""


@dataclass(frozen=True, slots=True)
class CaptureTable:
    """A table to capture with its key column, and the flow binding that names them, if any.

    Attributes:
        table: the table whose changes are logged.
        key: its key column.
        entity: the flow entity whose binding names the table (``None``: a table given
            directly; a fault is then a :class:`ConfigError` of ``tables``).
        setting: the binding setting that names the table: ``source``,
            ``options.write_table`` or ``options.capture_table``.
    """

    table: str
    key: str
    entity: str | None = None
    setting: str = "source"

    def fault(self, message: str, *, on_key: bool) -> ConfigError:
        """The error refusing this table (``on_key``: its key column), naming the binding's
        setting and the native name when a binding named them (:class:`BindingError`)."""
        if self.entity is None:
            return ConfigError(message, field="tables")
        setting, native = ("key", self.key) if on_key else (self.setting, self.table)
        return BindingError(message, entity=self.entity, setting=setting, native=native)


def capture_tables(bindings: Iterable[EntityBinding]) -> list[CaptureTable]:
    """The table whose changes feed each binding, for :func:`install_capture`.

    That is ``options.capture_table``, else ``options.write_table``, else ``source`` (the
    table that change-log entries of the entity name, as the reader looks them up), with the
    binding's key column; each names its entity and setting, so that a refusal is placed at
    the binding's setting in the flow.
    """
    tables = []
    for binding in bindings:
        table, setting = binding.source, "source"
        for option in ("capture_table", "write_table"):
            if binding.options.get(option):
                table, setting = str(binding.options[option]), f"options.{option}"
                break
        tables.append(CaptureTable(table, binding.key, binding.name, setting))
    return tables


@dataclass(frozen=True, slots=True)
class CaptureStatus:
    """What is installed.

    Attributes:
        dialect: ``sqlite``, ``postgresql`` or ``mysql`` (MariaDB).
        changelog_exists: the change-log table is there.
        tables: captured table -> all three triggers present.
        entries: rows in the change log.
        last_seq: the highest sequence number, ``None`` when empty.
        oldest: the oldest entry's time (UTC), ``None`` when empty.
    """

    dialect: str
    changelog_exists: bool
    tables: Mapping[str, bool]
    entries: int
    last_seq: int | None
    oldest: datetime | None


def changelog_table(name: str = "tandem_changelog", schema: str | None = None) -> sa.Table:
    """The change-log table as SQLAlchemy Core sees it (for queries, not DDL)."""
    return sa.Table(
        check_identifier(name, "changelog_table"),
        sa.MetaData(),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("table_name", sa.String(128), nullable=False),
        sa.Column("row_key", sa.String(255), nullable=False),
        sa.Column("op", sa.String(1), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        schema=schema,
    )


@contextmanager
def _engine(target: EngineLike) -> Iterator[sa.Engine]:
    if isinstance(target, sa.Engine):
        yield target
        return
    settings = target if isinstance(target, SqlSettings) else SqlSettings(url=target)
    engine = create_engine(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def _trigger_name(changelog: str, table: str, op: str) -> str:
    name = f"{changelog}_{table}_{op.lower()}"
    if len(name) <= 60:
        return name
    digest = hashlib.sha1(table.encode()).hexdigest()[:10]
    return f"{changelog[:40]}_{digest}_{op.lower()}"


class _Dialect(ABC):
    """Names and DDL for one database; subclasses fill in the per-dialect SQL."""

    NOW: ClassVar[str]
    """SQL for the current UTC time with sub-second precision, as the change log stores it."""
    KINDS: ClassVar[frozenset[KeyKind]]
    """The key kinds whose text this database can render exactly as the reader does."""
    REFUSED: ClassVar[str] = "its values have no text that Tandem can make equal to the reader's"
    """Why a kind outside :attr:`KINDS` is refused."""

    def __init__(self, engine: sa.Engine, changelog: str, schema: str | None, channel: str):
        self.changelog = check_identifier(changelog, "changelog_table")
        self.channel = check_identifier(channel, "notify_channel")
        self.schema = schema
        self.prep = engine.dialect.identifier_preparer

    def q(self, name: str) -> str:
        """A quoted, schema-qualified table name."""
        quoted = self.prep.quote(name)
        return f"{self.prep.quote_schema(self.schema)}.{quoted}" if self.schema else quoted

    @abstractmethod
    def create_changelog(self) -> list[str]:
        """Statements creating the change-log table, its indexes (and function)."""

    @abstractmethod
    def create_triggers(self, table: str, key: str, kind: KeyKind) -> list[str]:
        """Statements creating the three capture triggers of ``table``."""

    def replace_triggers(self, table: str, key: str, kind: KeyKind) -> list[str]:
        """Statements replacing whatever capture triggers ``table`` has with current ones."""
        return [*self.drop_triggers(table), *self.create_triggers(table, key, kind)]

    def drop_triggers(self, table: str) -> list[str]:
        return [
            f"DROP TRIGGER IF EXISTS {self.q(_trigger_name(self.changelog, table, op))}"
            for op in OPS
        ]

    def drop_all(self) -> list[str]:
        return [f"DROP TABLE IF EXISTS {self.q(self.changelog)}"]

    @abstractmethod
    def key_text(self, ref: str, key: str, kind: KeyKind) -> str:
        """SQL rendering ``ref.key`` (``NEW``, ``OLD``, an alias) as text.

        The text must be the reader's text of the key column's value (``reader.key_text``),
        and the same in the triggers and in the seed, or a logged key names no row.
        """

    @abstractmethod
    def trigger_names_sql(self) -> str:
        """A query listing the trigger names of the schema."""


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def null_key_message(table: str, key: str, *, sql: bool = False) -> str:
    """What a trigger says when the ERP writes a row whose key is NULL (refused: a row without
    a key names no record, and the change log could not name it).

    ``sql``: ``table`` and ``key`` are SQL expressions, and so is the message returned.
    """
    parts = ["Tandem change capture: key column ", " of table ", " is NULL; a row without a key"]
    parts[-1] += " cannot be synced"
    if not sql:
        return f"{parts[0]}{key!r}{parts[1]}{table!r}{parts[2]}"
    return f"{_lit(parts[0])} || {key} || {_lit(parts[1])} || {table} || {_lit(parts[2])}"


class _Sqlite(_Dialect):
    NOW = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')"
    KINDS = frozenset({"integer", "text"})
    REFUSED = (
        "SQLite keeps such values in whatever form they were written and the reader converts "
        "them, so a logged key would not find its row (declare the key INTEGER or TEXT)"
    )

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
        # A row without a key logs nothing: its insert or update is refused, its delete or
        # the update that gives it a key has no key to log as deleted.
        return (
            f"INSERT INTO {self.q(self.changelog)} (table_name, row_key, op, changed_at) "
            f"SELECT {_lit(table)}, {self.key_text(ref, key, kind)}, '{op}', {self.NOW} "
            f"WHERE {ref}.{self.prep.quote(key)} IS NOT NULL;"
        )

    def create_triggers(self, table: str, key: str, kind: KeyKind) -> list[str]:
        t, k = self.q(table), self.prep.quote(key)
        name = {op: self.q(_trigger_name(self.changelog, table, op)) for op in OPS}
        # A primary key other than INTEGER may be NULL in SQLite unless declared NOT NULL.
        refuse = f"SELECT RAISE(ABORT, {_lit(null_key_message(table, key))}) WHERE NEW.{k} IS NULL;"
        moved = (
            f"INSERT INTO {self.q(self.changelog)} (table_name, row_key, op, changed_at) "
            f"SELECT {_lit(table)}, {self.key_text('OLD', key, kind)}, 'D', {self.NOW} "
            # Binary: a key changed only in case under a NOCASE collation is another key.
            f"WHERE OLD.{k} IS NOT NULL AND OLD.{k} IS NOT NEW.{k} COLLATE BINARY;"
        )
        return [
            f"CREATE TRIGGER {name['I']} AFTER INSERT ON {t} FOR EACH ROW BEGIN {refuse} "
            f"{self._insert(table, 'NEW', key, kind, 'I')} END",
            f"CREATE TRIGGER {name['U']} AFTER UPDATE ON {t} FOR EACH ROW BEGIN {refuse} "
            f"{moved} {self._insert(table, 'NEW', key, kind, 'U')} END",
            f"CREATE TRIGGER {name['D']} AFTER DELETE ON {t} FOR EACH ROW BEGIN "
            f"{self._insert(table, 'OLD', key, kind, 'D')} END",
        ]

    def trigger_names_sql(self) -> str:
        return "SELECT name FROM sqlite_master WHERE type = 'trigger'"


_PG_TABLE, _PG_KEY = "quote_literal(TG_TABLE_NAME)", "quote_literal(TG_ARGV[0])"
"""The trigger function's table and key column, quoted as a message names them."""


class _Postgres(_Dialect):
    NOW = "(clock_timestamp() AT TIME ZONE 'UTC')"
    KINDS = frozenset(
        {"integer", "decimal", "text", "uuid", "date", "datetime", "instant", "time", "boolean"}
    )

    @property
    def function(self) -> str:
        return self.q(f"{self.changelog}_capture")

    @property
    def key_function(self) -> str:
        return self.q(f"{self.changelog}_key")

    def create_changelog(self) -> list[str]:
        cl = self.q(self.changelog)
        return [
            f"CREATE TABLE IF NOT EXISTS {cl} (seq BIGINT GENERATED BY DEFAULT AS IDENTITY "
            "PRIMARY KEY, table_name VARCHAR(128) NOT NULL, "
            'row_key VARCHAR(255) COLLATE "C" NOT NULL, op CHAR(1) NOT NULL, '
            "changed_at TIMESTAMP(6) NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {self.prep.quote(self.changelog + '_pos')} "
            f"ON {cl} (table_name, changed_at, row_key, seq)",
            f"CREATE INDEX IF NOT EXISTS {self.prep.quote(self.changelog + '_row')} "
            f"ON {cl} (table_name, row_key)",
            self._key_function(),
            # The ERP's writers call it through the triggers: a database that revokes
            # EXECUTE from PUBLIC by default must not make their writes fail.
            f"GRANT EXECUTE ON FUNCTION {self.key_function}(text, text) TO PUBLIC",
            # The key column and its kind are the trigger arguments; to_jsonb reads the column
            # by name (and, unlike a cast to text, keeps the padding of a CHAR(n) key, as the
            # driver does). Triggers of an earlier release pass no kind: their text stays raw.
            f"CREATE OR REPLACE FUNCTION {self.function}() RETURNS trigger "
            "LANGUAGE plpgsql AS $fn$\n"
            "DECLARE old_key text; new_key text;\n"
            "BEGIN\n"
            "  IF TG_OP <> 'INSERT' THEN\n"
            f"    old_key := {self.key_function}(to_jsonb(OLD) ->> TG_ARGV[0], TG_ARGV[1]);\n"
            "  END IF;\n"
            "  IF TG_OP <> 'DELETE' THEN\n"
            f"    new_key := {self.key_function}(to_jsonb(NEW) ->> TG_ARGV[0], TG_ARGV[1]);\n"
            "  END IF;\n"
            # A key column made nullable after install: a row without a key is refused, as
            # install-capture and `tandem check` refuse such a column (nothing to log).
            "  IF TG_OP <> 'DELETE' AND new_key IS NULL THEN\n"
            "    RAISE EXCEPTION USING ERRCODE = 'not_null_violation', TABLE = TG_TABLE_NAME,\n"
            "      COLUMN = TG_ARGV[0], MESSAGE = "
            f"{null_key_message(_PG_TABLE, _PG_KEY, sql=True)};\n"
            "  END IF;\n"
            "  IF TG_OP = 'UPDATE' AND old_key IS NOT NULL AND old_key IS DISTINCT FROM new_key "
            "THEN\n"
            f"    INSERT INTO {cl} (table_name, row_key, op, changed_at)\n"
            f"    VALUES (TG_TABLE_NAME, old_key, 'D', {self.NOW});\n"
            "  END IF;\n"
            "  IF COALESCE(new_key, old_key) IS NOT NULL THEN\n"
            f"    INSERT INTO {cl} (table_name, row_key, op, changed_at)\n"
            "    VALUES (TG_TABLE_NAME, COALESCE(new_key, old_key), left(TG_OP, 1), "
            f"{self.NOW});\n"
            "  END IF;\n"
            f"  PERFORM pg_notify({_lit(self.channel)}, TG_TABLE_NAME);\n"
            "  RETURN NULL;\n"
            "END\n$fn$",
        ]

    def _key_function(self) -> str:
        """``<changelog>_key(raw, kind)``: a key's JSON text as the reader's text of its value.

        ``raw`` is ``to_jsonb(row) ->> column``, which is already the reader's text for the
        integer, decimal, text, uuid and date kinds. A date-time is cast back from its ISO text
        (for ``timestamptz`` that text carries the writer's session offset) and printed as
        Python prints it: UTC for an instant, microseconds only when not 0. Never NULL for a
        value, and never an error, so the ERP's writes cannot fail on it.
        """
        return (
            f"CREATE OR REPLACE FUNCTION {self.key_function}(raw text, kind text) "
            "RETURNS text LANGUAGE plpgsql STABLE AS $fn$\n"
            "DECLARE ts timestamp;\n"
            "BEGIN\n"
            "  IF raw IS NULL THEN RETURN NULL;\n"
            "  ELSIF kind = 'boolean' THEN\n"
            "    RETURN CASE raw WHEN 'true' THEN 'True' WHEN 'false' THEN 'False' ELSE raw END;\n"
            "  ELSIF kind = 'time' THEN\n"
            "    RETURN CASE WHEN strpos(raw, '.') > 0 THEN rpad(raw, 15, '0') ELSE raw END;\n"
            "  ELSIF kind = 'datetime' THEN ts := raw::timestamp;\n"
            "  ELSIF kind = 'instant' THEN ts := raw::timestamptz AT TIME ZONE 'UTC';\n"
            "  ELSE RETURN raw;\n"
            "  END IF;\n"
            "  IF NOT isfinite(ts) THEN RETURN raw; END IF;\n"
            "  RETURN to_char(ts, 'YYYY-MM-DD HH24:MI:SS')\n"
            "    || CASE WHEN date_trunc('second', ts) = ts THEN '' ELSE to_char(ts, '.US') END\n"
            "    || CASE WHEN kind = 'instant' THEN '+00:00' ELSE '' END;\n"
            "END\n$fn$"
        )

    def drop_triggers(self, table: str) -> list[str]:
        return [
            f"DROP TRIGGER IF EXISTS {self.prep.quote(_trigger_name(self.changelog, table, op))}"
            f" ON {self.q(table)}"
            for op in OPS
        ]

    def drop_all(self) -> list[str]:
        return [
            *super().drop_all(),
            f"DROP FUNCTION IF EXISTS {self.function}()",
            f"DROP FUNCTION IF EXISTS {self.key_function}(text, text)",
        ]

    def key_text(self, ref: str, key: str, kind: KeyKind) -> str:
        # The trigger function's own expression: the seed must log the same text.
        return f"{self.key_function}(to_jsonb({ref}.*) ->> {_lit(key)}, {_lit(kind)})"

    def create_triggers(self, table: str, key: str, kind: KeyKind) -> list[str]:
        return [
            f"CREATE TRIGGER {self.prep.quote(_trigger_name(self.changelog, table, op))} "
            f"AFTER {verb} ON {self.q(table)} FOR EACH ROW "
            f"EXECUTE FUNCTION {self.function}({_lit(key)}, {_lit(kind)})"
            for op, verb in OPS.items()
        ]

    def trigger_names_sql(self) -> str:
        schema = _lit(self.schema) if self.schema else "current_schema()"
        return (
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {schema}"
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
            "row_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, "
            "op CHAR(1) NOT NULL, changed_at DATETIME(6) NOT NULL, "
            f"KEY {self.prep.quote(self.changelog + '_pos')} "
            "(table_name, changed_at, row_key, seq), "
            f"KEY {self.prep.quote(self.changelog + '_row')} (table_name, row_key)"
            ") ENGINE=InnoDB"
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
        t, k = self.q(table), self.prep.quote(key)
        name = {op: self.q(_trigger_name(self.changelog, table, op)) for op in OPS}
        old, new = self.key_text("OLD", key, kind), self.key_text("NEW", key, kind)
        # A key column made nullable after install: a row without a key is refused (as
        # install-capture and `tandem check` refuse such a column), with the error number of
        # a NULL in a NOT NULL column; a message is at most 128 characters.
        message = null_key_message(table, key)[:128]
        refuse = (
            f"IF NEW.{k} IS NULL THEN SIGNAL SQLSTATE '23000' SET MYSQL_ERRNO = 1048, "
            f"MESSAGE_TEXT = {_lit(message)}; END IF;"
        )
        return [
            f"CREATE TRIGGER {name['I']} AFTER INSERT ON {t} FOR EACH ROW BEGIN {refuse} "
            f"{self._insert(table, 'NEW', key, kind, 'I')}; END",
            # The logged texts, compared as bytes: under a case- or accent-insensitive or PAD
            # SPACE collation 'abc' and 'ABC ' compare equal, yet the row's key text has
            # changed (and two instants may read alike in the session's time zone).
            f"CREATE TRIGGER {name['U']} AFTER UPDATE ON {t} FOR EACH ROW BEGIN {refuse} "
            f"IF OLD.{k} IS NOT NULL AND NOT (CAST({old} AS BINARY) <=> CAST({new} AS BINARY)) "
            f"THEN {self._insert(table, 'OLD', key, kind, 'D')}; "
            f"END IF; {self._insert(table, 'NEW', key, kind, 'U')}; END",
            f"CREATE TRIGGER {name['D']} AFTER DELETE ON {t} FOR EACH ROW BEGIN "
            f"IF OLD.{k} IS NOT NULL THEN {self._insert(table, 'OLD', key, kind, 'D')}; END IF; "
            "END",
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


def _dialect(engine: sa.Engine, changelog: str, schema: str | None, channel: str) -> _Dialect:
    kinds: dict[str, type[_Dialect]] = {
        "sqlite": _Sqlite,
        "postgresql": _Postgres,
        "mysql": _Mysql,
        "mariadb": _Mysql,
    }
    kind = kinds.get(engine.dialect.name)
    if kind is None:
        raise ConfigError(f"change capture is not available for {engine.dialect.name}")
    return kind(engine, changelog, schema, channel)


def install_capture(
    engine_or_url: EngineLike,
    tables: Sequence[tuple[str, str] | CaptureTable],
    *,
    changelog_table: str = "tandem_changelog",
    notify_channel: str = "tandem_changes",
    schema: str | None = None,
    seed: bool = True,
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

    Raises:
        ConfigError: a table or key column does not exist, or the key column does not identify
            one row by itself (one column of a composite key, a column that is not unique or
            may be NULL; a SQLite primary key not declared NOT NULL is taken, unless a row
            holds NULL in it: its triggers refuse such rows), or its type has no text that the
            triggers can write exactly as the reader reads the key (:func:`key_kind`: floating
            point, binary, JSON, ...; on SQLite anything but integers and text). Checked
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
        schema = schema or engine_or_url.db_schema
    targets = [t if isinstance(t, CaptureTable) else CaptureTable(*t) for t in tables]
    with _engine(engine_or_url) as engine, engine.begin() as conn:
        d = _dialect(engine, changelog_table, schema, notify_channel)
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
            for stmt in d.replace_triggers(table, key, kind):
                conn.exec_driver_sql(stmt)
            rewrite_legacy_keys(conn, cl, table, kind)
            if table in relog:  # keys logged in the writers' time zone: every row again
                conn.exec_driver_sql(
                    f"INSERT INTO {d.q(d.changelog)} (table_name, row_key, op, changed_at) "
                    f"SELECT {_lit(table)}, {d.key_text('tandem_src', key, kind)}, 'U', "
                    f"{d.NOW} FROM {d.q(table)} tandem_src"
                )
            if seed:
                has = conn.execute(
                    sa.select(cl.c.seq).where(cl.c.table_name == table).limit(1)
                ).first()
                if has is None:
                    conn.exec_driver_sql(
                        f"INSERT INTO {d.q(d.changelog)} (table_name, row_key, op, changed_at) "
                        f"SELECT {_lit(table)}, {d.key_text('tandem_src', key, kind)}, 'I', "
                        f"{d.NOW} "
                        f"FROM {d.q(table)} tandem_src"
                    )


def _check_tables(
    conn: sa.Connection, d: _Dialect, tables: Sequence[CaptureTable], schema: str | None
) -> list[KeyKind]:
    """Refuse, before any change, a table that is not there or a key that names no one row.

    The change log keeps one key column's value per entry, so that column must identify a row
    on its own: the table's single-column primary key, or a column that is NOT NULL and unique
    by itself (a UNIQUE constraint or a full unique index on it alone). One column of a
    composite key would merge the rows that share it and lose their deletes. And its type must
    have a text the triggers write exactly as the reader reads the key.

    Returns:
        The key kind of each table, in order.

    Raises:
        ConfigError: the refusal (:meth:`CaptureTable.fault`: a :class:`BindingError` for the
            table of a binding).
    """
    insp = sa.inspect(conn)
    existing = set(insp.get_table_names(schema=schema))
    kinds: list[KeyKind] = []
    for target in tables:
        table, key = target.table, target.key
        if table not in existing:
            raise target.fault(_no_table(insp, target, schema), on_key=False)
        columns = {c["name"]: c for c in insp.get_columns(table, schema=schema)}
        if key not in columns:
            raise target.fault(f"table {table!r} has no column {key!r}", on_key=True)
        why = _not_a_row_key(insp, table, key, bool(columns[key].get("nullable", True)), schema)
        if why:
            raise target.fault(
                f"table {table!r}: key column {key!r} cannot be captured: {why}; the change log "
                "keeps one column's value per entry, so the key must be the table's "
                "single-column primary key or a NOT NULL column that is unique on its own "
                "(composite keys are not captured)",
                on_key=True,
            )
        column_type = columns[key]["type"]
        kind = key_kind(column_type)
        if kind is None or kind not in d.KINDS:
            why = d.REFUSED if kind is not None else _no_exact_text(column_type)
            raise target.fault(
                f"table {table!r}: key column {key!r} {_type_name(column_type, conn)} "
                f"cannot be captured: {why}; the change log keeps each key as text, which "
                "must be exactly the reader's text of that key",
                on_key=True,
            )
        if columns[key].get("nullable", True):  # a SQLite primary key not declared NOT NULL
            _refuse_null_keys(conn, d, target)
        kinds.append(kind)
    return kinds


def _refuse_null_keys(conn: sa.Connection, d: _Dialect, target: CaptureTable) -> None:
    """Refuse a table holding a row whose key is NULL: it could not be seeded (no record can
    stand for it), and the triggers refuse such rows from now on."""
    key = d.prep.quote(target.key)
    found = conn.exec_driver_sql(
        f"SELECT * FROM {d.q(target.table)} WHERE {key} IS NULL LIMIT 1"
    ).first()
    if found is not None:
        raise target.fault(
            f"table {target.table!r}: key column {target.key!r} is NULL in row "
            f"{dict(found._mapping)}, and a row without a key cannot be captured: give it a "
            "key (and declare the column NOT NULL)",
            on_key=True,
        )


def _no_table(insp: sa.Inspector, target: CaptureTable, schema: str | None) -> str:
    """Why ``target``'s table cannot be captured: it is not there, or it is a view."""
    if target.table not in insp.get_view_names(schema=schema):
        return f"no table {target.table!r} to capture (views cannot be)"
    hint = (
        ": set options.capture_table to the table whose changes feed it"
        if target.entity is not None and target.setting == "source"
        else ""
    )
    return f"no table {target.table!r} to capture: it is a view, and views cannot be{hint}"


def key_kind(column_type: sa.types.TypeEngine[Any]) -> KeyKind | None:
    """How values of a key column of ``column_type`` (as reflected) become text.

    ``None``: no text of its values is exact (floating point, binary, JSON, arrays, intervals,
    network addresses, bit strings, MariaDB ``SET``, ``time with time zone``, a type unknown to
    SQLAlchemy). A dialect may support fewer kinds (:attr:`_Dialect.KINDS`).
    """
    if is_enum_domain(column_type):
        return None
    kind = base_type(column_type)  # a domain's values are its base type's
    if isinstance(kind, mysql.SET):  # read as a Python set of strings
        return None
    if isinstance(kind, sa.Boolean):
        return "boolean"
    if isinstance(kind, sa.Float):  # before Numeric, its base class
        return None
    if isinstance(kind, sa.Integer | sa.Numeric | mysql.YEAR):
        if getattr(kind, "zerofill", False):
            return "zerofill"
        return "integer" if isinstance(kind, sa.Integer | mysql.YEAR) else "decimal"
    if isinstance(kind, sa.Uuid):
        return "uuid"
    if isinstance(kind, sa.String):  # text, CHAR, VARCHAR, enums
        return "text"
    if isinstance(kind, sa.DateTime):
        instant = bool(getattr(kind, "timezone", False)) or isinstance(kind, mysql.TIMESTAMP)
        return "instant" if instant else "datetime"
    if isinstance(kind, sa.Date):
        return "date"
    if isinstance(kind, sa.Time) and not getattr(kind, "timezone", False):
        return "time"
    return None


def _no_exact_text(column_type: sa.types.TypeEngine[Any]) -> str:
    if is_enum_domain(column_type):
        return NO_ENUM_DOMAIN_KEY
    column_type = base_type(column_type)
    if isinstance(column_type, sa.Float):
        return (
            "a floating-point value has no exact text (the database and Python print it "
            "differently)"
        )
    if isinstance(column_type, sa.types.NullType):
        return "Tandem cannot tell what text the reader gets for its values"
    return "its values have no text that Tandem can make equal to the reader's"


def _type_name(column_type: sa.types.TypeEngine[Any], conn: sa.Connection) -> str:
    """``of type <its SQL name>`` for a message (a domain's, then its base type's)."""
    if isinstance(column_type, sa.types.NullType):
        return "of a type unknown to SQLAlchemy (or none declared)"
    name = f"of type {_sql_name(column_type, conn)}"
    base = base_type(column_type)
    return name if base is column_type else f"{name} (a domain over {_sql_name(base, conn)})"


def _sql_name(column_type: sa.types.TypeEngine[Any], conn: sa.Connection) -> str:
    if isinstance(column_type, postgresql.DOMAIN):
        return str(column_type.name)
    try:
        return str(column_type.compile(dialect=conn.dialect))
    except Exception:  # a type the dialect cannot render: its class then
        return type(column_type).__name__


def _not_a_row_key(
    insp: sa.Inspector, table: str, key: str, nullable: bool, schema: str | None
) -> str:
    """Why ``key`` does not identify one row of ``table`` by itself ('' when it does)."""
    pk = list(insp.get_pk_constraint(table, schema=schema).get("constrained_columns") or [])
    if pk == [key]:
        return ""
    unique: list[list[str | None]] = [
        list(u.get("column_names") or []) for u in insp.get_unique_constraints(table, schema)
    ]
    # SQLite keeps a column's own UNIQUE as an automatic index only.
    auto = {"include_auto_indexes": True} if insp.dialect.name == "sqlite" else {}
    for index in insp.get_indexes(table, schema=schema, **auto):
        partial = any(name.endswith("_where") for name in index.get("dialect_options") or {})
        if index.get("unique") and not partial:  # an expression's column name is None
            unique.append(list(index.get("column_names") or []))
    if [key] in unique:
        return "it may be NULL" if nullable else ""
    if key in pk:
        return f"it is one column of the composite primary key ({', '.join(pk)})"
    return "it is neither the primary key nor unique on its own"


def changelog_table_for(d: _Dialect) -> sa.Table:
    """The change-log :class:`sa.Table` of a dialect helper (internal)."""
    return changelog_table(d.changelog, None if isinstance(d, _Sqlite) else d.schema)


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
        if drop_changelog:
            for stmt in d.drop_all():
                conn.exec_driver_sql(stmt)


def capture_status(
    engine_or_url: EngineLike,
    tables: Sequence[str] = (),
    *,
    changelog_table: str = "tandem_changelog",
    schema: str | None = None,
) -> CaptureStatus:
    """Report whether the change log and the triggers on ``tables`` are installed."""
    if isinstance(engine_or_url, SqlSettings):
        changelog_table = engine_or_url.changelog_table
        schema = schema or engine_or_url.db_schema
    with _engine(engine_or_url) as engine, engine.connect() as conn:
        d = _dialect(engine, changelog_table, schema, "tandem_changes")
        exists = sa.inspect(conn).has_table(changelog_table, schema=schema)
        names = {str(r[0]) for r in conn.exec_driver_sql(d.trigger_names_sql())}
        installed = {
            t: all(_trigger_name(d.changelog, t, op) in names for op in OPS) for t in tables
        }
        entries, last, oldest = 0, None, None
        if exists:
            cl = changelog_table_for(d)
            row = conn.execute(
                sa.select(sa.func.count(), sa.func.max(cl.c.seq), sa.func.min(cl.c.changed_at))
            ).one()
            entries, last = int(row[0]), (int(row[1]) if row[1] is not None else None)
            oldest = utc(row[2]) if row[2] is not None else None
        return CaptureStatus(engine.dialect.name, exists, installed, entries, last, oldest)


def prune_changelog(
    engine_or_url: EngineLike,
    before: datetime,
    *,
    changelog_table: str = "tandem_changelog",
    schema: str | None = None,
) -> int:
    """Delete change-log entries older than ``before``; return how many went.

    Prune only behind every reader's cursor minus its overlap window, or changes are lost.
    """
    if isinstance(engine_or_url, SqlSettings):
        changelog_table = engine_or_url.changelog_table
        schema = schema or engine_or_url.db_schema
    with _engine(engine_or_url) as engine, engine.begin() as conn:
        d = _dialect(engine, changelog_table, schema, "tandem_changes")
        cl = changelog_table_for(d)
        cutoff = utc(before).replace(tzinfo=None)
        return int(conn.execute(sa.delete(cl).where(cl.c.changed_at < cutoff)).rowcount)
