"""Settings of the SQL-database ERP connector, and the engine built from them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from sqlalchemy import event

from tandem.dburl import driver_problem, with_driver
from tandem.errors import ConfigError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,47}$")

CaptureMode = Literal["changelog", "modified_column"]


def check_identifier(value: str, what: str) -> str:
    """Return ``value`` when it is a plain SQL identifier, else raise :class:`ConfigError`.

    Names that Tandem itself puts into DDL (change-log table, trigger names, notify channel)
    must be plain identifiers: letters, digits and ``_``, at most 48 characters.
    """
    if not _IDENTIFIER.match(value):
        raise ConfigError(f"{value!r} is not a plain SQL identifier", field=what)
    return value


class SqlSettings(BaseModel):
    """How to reach one SQL-database ERP (``type: sql``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, hide_input_in_errors=True
    )

    url: SecretStr = Field(
        description="SQLAlchemy URL: postgresql+psycopg://erp@db/erp, mysql+pymysql://...,"
        " sqlite:///erp.db (relative to the flow file). Held as a secret: a URL that carries a"
        " password must be a reference ({env: NAME} or {file: PATH}).",
    )
    password: SecretStr | None = Field(
        default=None,
        description="The database password, kept apart from the URL and merged in at connect time.",
    )
    db_schema: str | None = Field(
        default=None,
        alias="schema",
        description="The schema (PostgreSQL) or database (MariaDB) holding the ERP tables;"
        " default: the connection's own.",
    )
    capture: CaptureMode = Field(
        default="changelog",
        description="changelog: a trigger-maintained change log (sees hard deletes);"
        " modified_column: polls a modified-at column (read-only access).",
    )
    changelog_table: str = Field(
        default="tandem_changelog",
        description="Name of the change-log table Tandem installs (a plain SQL identifier).",
        json_schema_extra={"pattern": _IDENTIFIER.pattern},
    )
    notify_channel: str = Field(
        default="tandem_changes",
        description="PostgreSQL LISTEN/NOTIFY channel the capture triggers signal on (a plain"
        " SQL identifier).",
        json_schema_extra={"pattern": _IDENTIFIER.pattern},
    )
    notify: bool | None = Field(
        default=None,
        description="PostgreSQL: whether the capture triggers NOTIFY notify_channel, so that"
        " the engine wakes at once. Unset: yes, unless the server allows prepared transactions"
        " (max_prepared_transactions > 0): PostgreSQL refuses to PREPARE a transaction that has"
        " sent NOTIFY, and waiting for changes then polls every poll_seconds.",
    )
    poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often waiting for changes polls where the database cannot signal.",
    )
    pool_size: int = Field(
        default=5, ge=1, description="Connections kept open (not used for SQLite)."
    )
    max_overflow: int = Field(
        default=5, ge=0, description="Extra connections allowed under load (not used for SQLite)."
    )
    pool_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for a free pooled connection."
    )
    pool_recycle: int = Field(
        default=1800,
        ge=-1,
        description="Seconds after which a pooled connection is replaced (-1: never).",
    )
    connect_timeout: int = Field(default=10, ge=1, description="Seconds to wait when connecting.")
    lock_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a statement waits for a row lock before failing (retried later).",
    )
    time_zone: str = Field(
        default="UTC",
        description="IANA time zone (e.g. Europe/Warsaw) of the date-times the ERP stores without"
        " one (DATETIME, timestamp without time zone, SQLite text): modified-at columns and"
        " datetime fields are read and written as local times of this zone. Columns that hold"
        " an instant (timestamptz, MariaDB TIMESTAMP) and Tandem's change log stay UTC.",
    )

    @field_validator("url")
    @classmethod
    def _parsable_url(cls, value: SecretStr) -> SecretStr:
        try:
            url = with_driver(sa.make_url(value.get_secret_value()))
        except Exception:
            raise ValueError("the database URL cannot be parsed") from None
        problem = driver_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("changelog_table", "notify_channel")
    @classmethod
    def _plain_identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"{value!r} is not a plain SQL identifier")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone_of(value)
        except ValueError:
            raise ValueError(
                f"unknown time zone {value!r}: expected an IANA name such as"
                " 'UTC' or 'Europe/Warsaw'"
            ) from None
        return value

    @property
    def zone(self) -> tzinfo:
        """The :attr:`time_zone` as a ``tzinfo`` (``datetime.UTC`` for ``"UTC"``)."""
        return zone_of(self.time_zone)

    def sqlalchemy_url(self) -> sa.URL:
        """The URL to connect with, the separate password merged in.

        Raises:
            ConfigError: the URL cannot be parsed (the message does not repeat it).
        """
        try:
            url = with_driver(sa.make_url(self.url.get_secret_value()))
        except Exception:
            raise ConfigError("the database URL cannot be parsed", field="url") from None
        if self.password is not None:
            url = url.set(password=self.password.get_secret_value())
        return url

    def safe_url(self) -> str:
        """The URL for logs and messages, password hidden."""
        return self.sqlalchemy_url().render_as_string(hide_password=True)

    def secrets(self) -> tuple[str, ...]:
        """Every secret string these settings hold, to scrub from messages."""
        found = [self.password.get_secret_value()] if self.password else []
        try:
            pw = sa.make_url(self.url.get_secret_value()).password
        except Exception:
            pw = None
        if pw:
            found.append(str(pw))
        return tuple(s for s in found if s)


def zone_of(name: str) -> tzinfo:
    """The time zone named ``name`` (IANA), ``datetime.UTC`` for ``"UTC"``.

    Raises:
        ValueError: no such zone (or not a valid zone key).
    """
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a key naming a directory of the zone database (``America``).
        raise ValueError(f"unknown time zone {name!r}") from None


def settings_from(values: Mapping[str, Any]) -> SqlSettings:
    """Validate a connection's settings mapping.

    Raises:
        ConfigError: naming the first invalid field; the value is never repeated.
    """
    try:
        return SqlSettings.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise ConfigError(str(first["msg"]), field=field) from None


def create_engine(settings: SqlSettings) -> sa.Engine:
    """A synchronous engine for ``settings``, sessions set to UTC and strict data checks.

    * PostgreSQL: ``timezone=UTC``, ``lock_timeout``.
    * MariaDB/MySQL: ``time_zone='+00:00'``, ``STRICT_TRANS_TABLES`` added when missing,
      ``innodb_lock_wait_timeout``.
    * SQLite: foreign keys enforced, busy timeout, and real ``BEGIN`` so that savepoints work.
    """
    url = settings.sqlalchemy_url()
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        connect_args["timeout"] = settings.lock_timeout
    else:
        kwargs.update(
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            pool_recycle=settings.pool_recycle,
        )
        connect_args["connect_timeout"] = settings.connect_timeout
    if backend == "postgresql":
        lock_ms = int(settings.lock_timeout * 1000)
        connect_args["options"] = f"-c timezone=UTC -c lock_timeout={lock_ms}"
    engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    if backend == "sqlite":
        _sqlite_hooks(engine)
    elif backend in ("mysql", "mariadb"):
        _mysql_hooks(engine, max(1, round(settings.lock_timeout)))
    return engine


def _sqlite_hooks(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defeats SAVEPOINT: take it over.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def _mysql_hooks(engine: sa.Engine, lock_seconds: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SET SESSION time_zone = '+00:00'")
        cur.execute(f"SET SESSION innodb_lock_wait_timeout = {lock_seconds}")
        cur.execute("SELECT @@SESSION.sql_mode")
        mode = str(cur.fetchone()[0] or "")
        if "STRICT_TRANS_TABLES" not in mode and "STRICT_ALL_TABLES" not in mode:
            modes = ",".join(m for m in (mode, "STRICT_TRANS_TABLES") if m)
            cur.execute("SET SESSION sql_mode = %s", (modes,))
        cur.close()
