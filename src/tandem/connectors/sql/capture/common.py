"""What every dialect shares: the change-log table, key kinds, trigger names, the dialect base."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import ClassVar, Literal

import sqlalchemy as sa

from tandem.connectors.base import KEY_LENGTH
from tandem.connectors.sql.settings import SqlSettings, check_identifier, create_engine

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


CAPTURE_RELEASE = 5
"""The form of the change capture this Tandem installs, kept in ``<changelog>_release``.

One number for every database: each install records it, and a lower one asks for
``install-capture`` again, also where that release changed nothing on this database.

1. Every release before the table (none is kept: read as 1).
2. The triggers skip a row whose key is NULL or longer than :data:`KEY_LENGTH` instead
   of failing the ERP's write; on PostgreSQL the trigger function runs with its owner's
   rights, and leaves out NOTIFY where the server allows prepared transactions.
3. PostgreSQL: a ``BEFORE TRUNCATE`` trigger (``<changelog>_truncated()``) logs every row a
   ``TRUNCATE`` empties as deleted. MariaDB/MySQL: triggers on the parent tables of a
   captured table log the rows its foreign keys' ``CASCADE`` / ``SET NULL`` actions delete or
   change (InnoDB fires no trigger for them). SQLite: no change.
4. MariaDB/MySQL: the cascade triggers follow chains (a grandparent's ``ON DELETE CASCADE``
   reaching a captured table's parent) and self-references (every descendant of a deleted
   row). PostgreSQL, SQLite: no change.
5. MariaDB/MySQL: the parent's ``BEFORE UPDATE`` trigger also logs an ``ON UPDATE CASCADE``
   / ``SET NULL`` that changes a captured table's key column (the old key deleted, the new
   one updated, as the table's own trigger logs a key change); a ``SET NULL`` of the key
   column on delete is logged as the old key deleted. PostgreSQL, SQLite: no change.
"""

RELEASE_GAPS = {
    2: "its triggers may fail an ERP write they should let through (a row without a key; on "
    "PostgreSQL a writer without rights on the change log, or a prepared transaction), and a "
    "write transaction held open longer than overlap_seconds can be missed",
    3: "on PostgreSQL a TRUNCATE of a captured table is not logged, and on MariaDB/MySQL the "
    "rows a foreign key's CASCADE or SET NULL action deletes or changes are not logged, so only "
    "`tandem reconcile` finds those changes (release 3 logs them)",
    4: "on MariaDB/MySQL the rows a cascade deletes further down a chain (a grandparent's "
    "ON DELETE CASCADE) or below a self-referencing row are not logged, so only `tandem "
    "reconcile` finds those deletes (release 4 logs them)",
    5: "on MariaDB/MySQL a foreign key's ON UPDATE CASCADE or SET NULL that changes a captured "
    "table's key column is not logged (install-capture warned of it), so only `tandem "
    "reconcile` finds those rows under their new key and the old key's delete (release 5 logs "
    "them)",
}
"""What an install of a release below each number lacks, for the advice to run
``install-capture`` again."""


def release_table_name(changelog: str) -> str:
    """The one-row table that names the :data:`CAPTURE_RELEASE` of the installed capture."""
    return f"{changelog}_release"


def changelog_table(name: str = "tandem_changelog", schema: str | None = None) -> sa.Table:
    """The change-log table as SQLAlchemy Core sees it (for queries, not DDL)."""
    return sa.Table(
        check_identifier(name, "changelog_table"),
        sa.MetaData(),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("table_name", sa.String(128), nullable=False),
        sa.Column("row_key", sa.String(KEY_LENGTH), nullable=False),
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
    LENGTH: ClassVar[str] = "char_length"
    """The SQL function giving a text's length in characters."""
    READS: ClassVar[bool] = True
    """Whether readers keep a table of earlier reads (:attr:`reads`) next to the change log."""

    def __init__(self, engine: sa.Engine, changelog: str, schema: str | None, channel: str):
        self.changelog = check_identifier(changelog, "changelog_table")
        self.channel = check_identifier(channel, "notify_channel")
        self.notify = True
        """PostgreSQL: the trigger function signals :attr:`channel` (see :func:`notifies`)."""
        self.home = schema or "public"
        """PostgreSQL: the schema of the change log and its functions (``schema``, else the
        installing session's ``current_schema()``)."""
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

    @property
    def reads(self) -> str:
        """The name of the table of earlier reads next to the change log (not on SQLite)."""
        return reads_table_name(self.changelog)

    @property
    def log_schema(self) -> str | None:
        """The schema in which SQLAlchemy finds the change log (:attr:`schema`)."""
        return self.schema

    def install_more(
        self, conn: sa.Connection, targets: Sequence[tuple[str, str, KeyKind]]
    ) -> None:
        """After the capture triggers of ``targets`` (table, key column, key kind) are in
        place: whatever else this database needs to log their changes. Nothing by default."""
        return

    def uninstall_more(self, conn: sa.Connection, tables: Sequence[str]) -> None:
        """After the capture triggers of ``tables`` are dropped: drop what
        :meth:`install_more` made for them. Nothing by default."""
        return

    def missing_more(
        self, conn: sa.Connection, targets: Sequence[tuple[str, str | None]]
    ) -> dict[str, list[str]]:
        """What :meth:`install_more` made for ``targets`` (table, key column or ``None`` when
        unknown) that is missing, by table, each said in words. Nothing by default."""
        return {}

    def prune(self, engine: sa.Engine, cutoff: datetime) -> int:
        """Delete the entries (and reads) logged before ``cutoff`` (naive UTC), in one
        transaction; return how many entries went."""
        with engine.begin() as conn:
            cl = changelog_table(self.changelog, self.log_schema)
            pruned = int(conn.execute(sa.delete(cl).where(cl.c.changed_at < cutoff)).rowcount)
            self.prune_reads(conn, cutoff)
            return pruned

    def prune_reads(self, conn: sa.Connection, cutoff: datetime) -> None:
        """Delete the reads noted before ``cutoff``, where the table of reads exists (never
        on SQLite): a reader behind ``cutoff`` is not served any more."""
        if self.READS and sa.inspect(conn).has_table(self.reads, schema=self.schema):
            reads = sa.table(self.reads, sa.column("taken_at"), schema=self.schema)
            conn.execute(sa.delete(reads).where(reads.c.taken_at < cutoff))

    def drop_all(self) -> list[str]:
        return [
            f"DROP TABLE IF EXISTS {self.q(self.changelog)}",
            f"DROP TABLE IF EXISTS {self.q(self.reads)}",
            f"DROP TABLE IF EXISTS {self.q(release_table_name(self.changelog))}",
        ]

    def mark_release(self) -> list[str]:
        """Statements noting that the capture is of :data:`CAPTURE_RELEASE`."""
        table = self.q(release_table_name(self.changelog))
        return [
            f"CREATE TABLE IF NOT EXISTS {table} (release_no INTEGER NOT NULL)",
            f"DELETE FROM {table}",
            f"INSERT INTO {table} (release_no) VALUES ({CAPTURE_RELEASE})",
        ]

    def lit(self, value: str) -> str:
        """``value`` as an SQL string literal of this database."""
        return _lit(value)

    @abstractmethod
    def key_text(self, ref: str, key: str, kind: KeyKind) -> str:
        """SQL rendering ``ref.key`` (``NEW``, ``OLD``, an alias) as text.

        The text must be the reader's text of the key column's value (``reader.key_text``),
        and the same in the triggers and in the seed, or a logged key names no row.
        """

    def loggable(self, ref: str, key: str, kind: KeyKind) -> str:
        """SQL: whether ``ref``'s key can be logged: not NULL, and its text not longer than
        :data:`KEY_LENGTH` characters (the log's column; on SQLite, whose TEXT holds any
        length, because no record can stand for a longer key). A row whose key cannot is
        skipped by the triggers and the seed."""
        return (
            f"{ref}.{self.prep.quote(key)} IS NOT NULL AND "
            f"{self.LENGTH}({self.key_text(ref, key, kind)}) <= {KEY_LENGTH}"
        )

    @abstractmethod
    def trigger_names_sql(self) -> str:
        """A query listing the trigger names of the schema."""


def reads_table_name(changelog: str) -> str:
    """The table in which readers of ``changelog`` note what was in flight when they read."""
    return f"{changelog}_reads"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
