"""Connecting to the state database, translating its errors, and migrating its schema.

SQLite gets WAL (readers never block the writer), a 30 s ``busy_timeout`` and ``BEGIN
IMMEDIATE`` transactions (a transaction that reads then writes cannot fail half-way with
"database is locked"); PostgreSQL a 30 s ``lock_timeout`` and MariaDB a 30 s
``innodb_lock_wait_timeout``, so a lock another process holds is waited for, but not for ever
(PostgreSQL's default): past the wait the store raises :class:`~tandem.errors.StoreBusy`.
``synchronous=NORMAL`` is enough under WAL: a crash of the process loses nothing; a power cut
may lose the last commits, which the pipeline re-syncs idempotently because cursors, state and
links roll back together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from tandem.dbretry import is_busy
from tandem.dburl import with_driver
from tandem.errors import StoreBusy, StoreError

if TYPE_CHECKING:  # Alembic loads only when a migration or its services are needed
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "tandem_alembic_version"
SCHEMA_HEAD = "0005"
LOCK_WAIT_SECONDS = 30
"""How long a state store transaction waits for a lock another connection holds (SQLite's
``busy_timeout``, PostgreSQL's ``lock_timeout``) before it fails with
:class:`~tandem.errors.StoreBusy`."""
READ_ONLY = "tandem_read_only"
"""Execution option marking a connection that only reads (a deferred transaction on SQLite)."""
"""The newest migration under ``migrations/versions``: a new migration moves it (a test holds
it equal to Alembic's head, so the two cannot drift apart).
"""


def normalise_url(url: str) -> sa.URL:
    """Parse a store URL, filling in the driver Tandem ships with when none is named.

    Args:
        url: ``sqlite:///path/state.db``, ``postgresql+psycopg://...``, ``mariadb://...``.

    Returns:
        The parsed URL; ``postgresql://`` becomes ``postgresql+psycopg://`` and
        ``mysql://``/``mariadb://`` use PyMySQL.

    Raises:
        StoreError: the URL cannot be parsed.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise StoreError(f"state store URL is not valid: {exc}") from exc
    return with_driver(parsed)


def create_engine(url: str) -> sa.Engine:
    """An engine for the state store; creates a SQLite file's folder.

    Args:
        url: the store URL (see :func:`normalise_url`).

    Returns:
        The engine, configured for the backend.

    Raises:
        StoreError: bad URL, unknown driver, or the SQLite folder cannot be created.
    """
    parsed = normalise_url(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": parsed.get_backend_name() != "sqlite"}
    if parsed.drivername == "postgresql+psycopg":
        # No server-side prepared statements: their cached generic plans, made while a table
        # was still small, kept seq-scanning it as it grew (10x slower by 20,000 rows).
        # A bounded wait for locks, as SQLite's busy_timeout: without it a lock another
        # session holds would hold the agent (and its event loop) for as long.
        kwargs["connect_args"] = {
            "prepare_threshold": None,
            "options": f"-c lock_timeout={LOCK_WAIT_SECONDS * 1000}",
        }
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of {database}: {exc}") from exc
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        safe = parsed.render_as_string(hide_password=True)
        raise StoreError(f"cannot open state store {safe}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    elif engine.dialect.name in ("mysql", "mariadb"):
        _tune_mysql(engine)
    return engine


def _tune_mysql(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_SECONDS}")
        cur.close()


def _tune_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN, not the sqlite3 module.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in (
            "journal_mode=WAL",
            f"busy_timeout={LOCK_WAIT_SECONDS * 1000}",
            "synchronous=NORMAL",
            "foreign_keys=ON",
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A writer takes the write lock at once (no deadlock upgrading a read lock later);
        # a reader's deferred transaction reads a snapshot beside a writer (WAL).
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def translated(operation: str) -> Iterator[None]:
    """Turn any database error raised inside into :class:`~tandem.errors.StoreError`, or
    :class:`~tandem.errors.StoreBusy` when the database stayed locked longer than the store
    waits (or the transaction lost a deadlock).

    Args:
        operation: what was being done, for the message (``save synced state of customer``).
    """
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        detail = str(orig if orig is not None else exc).strip().splitlines()
        text = " ".join(line.strip() for line in detail)[:500]
        if is_busy(exc):
            raise StoreBusy(
                f"state store: {operation} failed: the database is busy ({text}): another "
                f"process held a lock on it for longer than {LOCK_WAIT_SECONDS} s; nothing of "
                "this transaction was saved, try again once it lets go"
            ) from exc
        raise StoreError(f"state store: {operation} failed: {type(exc).__name__}: {text}") from exc


def compare_column_type(
    ctx: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: sa.types.TypeEngine[Any],
    metadata_type: sa.types.TypeEngine[Any],
) -> bool | None:
    """Alembic ``compare_type`` hook: judge the store's column types by what they store.

    Without it autogenerate sees ``TEXT`` vs ``CodecJson`` on PostgreSQL as a change.
    """
    if isinstance(metadata_type, sa.types.TypeDecorator):
        stored = metadata_type.load_dialect_impl(ctx.dialect)
        return inspected_type._type_affinity is not stored._type_affinity
    return None  # Alembic's default comparison


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str:
    """The newest schema revision this version of Tandem knows (:data:`SCHEMA_HEAD`)."""
    return SCHEMA_HEAD


def alembic_head() -> str:
    """The head of the shipped migrations as Alembic reads them (loads Alembic)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships at least one revision
    return head


def stored_revisions(conn: sa.Connection) -> list[str] | None:
    """The rows of the version table, read with one plain query (no Alembic).

    Returns:
        The revisions stored, or ``None`` when the table cannot be read (a fresh database has
        none); the connection's transaction is then rolled back.
    """
    version = sa.column("version_num", sa.String)
    query = sa.select(version).select_from(sa.table(VERSION_TABLE))
    try:
        return list(conn.execute(query).scalars())
    except sa.exc.DBAPIError:
        conn.rollback()
        return None


def _at_head(engine: sa.Engine, operation: str) -> bool:
    """Whether the database's schema is at :func:`head_revision`, from one read of its version."""
    head = head_revision()
    with translated(operation), engine.connect() as conn:
        stored = stored_revisions(conn)
        conn.rollback()
    return stored == [head]


def migrate(engine: sa.Engine) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``).

    A database already at the head is only read (Alembic is not even loaded): the upgrade
    would have nothing to do.

    Args:
        engine: the store's engine.

    Raises:
        StoreError: the migration failed, or the schema is newer than this code (a store an
            upgraded Tandem wrote: it is left as it is).
    """
    if not _at_head(engine, "migrate"):
        _refuse_newer(engine)
        _upgrade(engine)
    log.info("state store schema at revision %s", head_revision())


def _refuse_newer(engine: sa.Engine) -> None:
    """Refuse a schema newer than this code; Alembic would only say it cannot find it."""
    revision = current_revision(engine)
    if revision is not None and revision not in _known_revisions():
        raise StoreError(_newer(revision))


def _newer(revision: str) -> str:
    return (
        f"state store schema revision {revision} is newer than this Tandem knows "
        f"({head_revision()}): upgrade Tandem"
    )


def _upgrade(engine: sa.Engine) -> None:
    """Run ``alembic upgrade head`` on one transaction of ``engine``."""
    from alembic import command

    config = alembic_config()
    with translated("migrate"), engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def current_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database is at, ``None`` when it has none yet."""
    from alembic.runtime.migration import MigrationContext

    with translated("read schema revision"), engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        revision = context.get_current_revision()
        conn.rollback()
    return revision


def check_schema(engine: sa.Engine) -> None:
    """Refuse to work on a database whose schema is not the one this code expects.

    Raises:
        StoreError: the schema is missing, older (run ``tandem store migrate``) or newer than
            this version of Tandem.
    """
    if _at_head(engine, "read schema revision"):
        return
    revision = current_revision(engine)
    head = head_revision()
    if revision == head:
        return
    if revision is None:
        raise StoreError(
            "state store has no schema yet: run `tandem store migrate` "
            "(or StateStore.migrate()) first"
        )
    if revision in _known_revisions():
        raise StoreError(
            f"state store schema is at revision {revision}, this Tandem needs {head}: "
            "run `tandem store migrate` (or StateStore.migrate())"
        )
    raise StoreError(_newer(revision))


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    return {script.revision for script in scripts}


__all__ = [
    "LOCK_WAIT_SECONDS",
    "READ_ONLY",
    "SCHEMA_HEAD",
    "VERSION_TABLE",
    "alembic_config",
    "alembic_head",
    "check_schema",
    "compare_column_type",
    "create_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "normalise_url",
    "stored_revisions",
    "translated",
]
