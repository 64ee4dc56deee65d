"""Late commits: a read returns what committed after an earlier read had passed its place.

The change-log triggers stamp an entry when the ERP's statement runs, not when its transaction
commits, and a read resumes after the position it reached (minus the pipeline's overlap). An
entry of a transaction still open when a read passed its position becomes visible later,
behind the cursor; held open longer than the overlap, it would never be read. So each read of
the change log first takes a :class:`Horizon` (one statement), in the database's own terms:

* **PostgreSQL.** Each entry carries its writing transaction (``xid``, filled by the column's
  default ``pg_current_xact_id()``). A read notes its snapshot (``pg_current_snapshot()``)
  in ``<changelog>_reads`` when some write transaction is in flight (:data:`_PG`), and
  returns, before the entries after ``since``, those behind ``since`` whose transaction that
  earlier read could not see: listed in flight then (``pg_snapshot_xip``) or at or past its
  ``pg_snapshot_xmax``. No privileges needed.
* **MariaDB.** A read notes the start of the oldest write transaction open then (other than its
  own) from ``information_schema.INNODB_TRX``, and a later read starts no later than that
  start: it returns what was logged since then again (as it is now), late commits among it.
  ``INNODB_TRX`` may lag by 0.1 s, so a read that may reach entries of the last :data:`STALE`
  seconds is noted as held back that far at least (the pipeline's overlap re-reads more).
  Needs the ``PROCESS`` privilege; without it a warning is logged once and reads are as
  before (the overlap alone covers late commits).
* **SQLite** serialises writers: a transaction holding the write lock blocks every other
  writer until it ends, so no entry can commit behind one already read. Nothing is done.

Which earlier read? The snapshots of every reader are kept, by the time they were taken: the
read that reached a cursor ``c`` took its snapshot at or after ``c`` (a read returns only
entries stamped before it began: :attr:`Horizon.upto`), so the first snapshot noted at or
after ``since`` was taken no later than it and could see no more than it (plus those taken
within a second after it: snapshots of readers racing at one instant). Several readers and new
processes therefore need no state of their own. ``prune_changelog`` prunes the noted reads
with the log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tandem.connectors.base import Cursor, utc
from tandem.connectors.sql.capture.common import reads_table_name

log = logging.getLogger(__name__)

NO_PROCESS = 1227
"""MariaDB's error number of a missing privilege (``PROCESS``, to read ``INNODB_TRX``)."""

_PG = """
WITH now_ AS (
  SELECT statement_timestamp() AT TIME ZONE 'UTC' AS at, pg_current_snapshot() AS snap
), kept AS (
  INSERT INTO {reads} (taken_at, snap) SELECT at, snap FROM now_
  WHERE pg_snapshot_xmin(snap) <> pg_snapshot_xmax(snap) OR EXISTS (
    SELECT 1 FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
  ) OR EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database())
  RETURNING seq
), first_ AS (
  SELECT min(taken_at) AS at FROM {reads} WHERE taken_at >= CAST(:since AS timestamp)
), seen AS (
  SELECT r.snap FROM {reads} r, first_ f
  WHERE r.taken_at >= f.at AND r.taken_at < f.at + interval '1 second'
)
SELECT n.at,
  (SELECT min(CAST(CAST(pg_snapshot_xmax(snap) AS text) AS bigint)) FROM seen),
  ARRAY(SELECT DISTINCT CAST(CAST(x AS text) AS bigint) FROM seen, pg_snapshot_xip(seen.snap) x),
  (SELECT count(*) FROM kept)
FROM now_ n
"""
"""One statement: the read's time and snapshot, and what the first reads noted at or after
``since`` could not see.

The snapshot is noted when a write transaction is in flight: one it lists (``xip``), any
other session's with a transaction id (``pg_stat_activity.backend_xid``, shown to every
role), or a prepared one of this database (``pg_prepared_xacts``, which has no session): one
whose id is at or past the snapshot's ``xmax`` is in flight without being listed.

The scans run after the snapshot was taken: a transaction that ends in between is in none of
them, and the read's snapshot is not noted. Nothing is lost by it: the read's batches run
later still and see what it committed; and what it wrote behind the read's ``since`` was
invisible to the read that reached ``since``, which ran while it was in flight and was noted.
"""

_MARIADB_OPEN = (
    "(SELECT MIN(trx_started) FROM information_schema.INNODB_TRX "
    "WHERE trx_mysql_thread_id <> CONNECTION_ID() AND trx_rows_modified > 0)"
)
_EPOCH = "TIMESTAMP'1970-01-01 00:00:00'"
_MARIADB_OPEN_UTC = (
    "(SELECT TIMESTAMPADD(SECOND, LEAST(UNIX_TIMESTAMP(o.t), "
    f"UNIX_TIMESTAMP(o.t - INTERVAL 1 HOUR) + 3600), {_EPOCH}) "
    f"FROM (SELECT {_MARIADB_OPEN} AS t) o)"
)
"""The start of the oldest write transaction open, in UTC.

``trx_started`` is the wall time of the server's *operating-system* clock (InnoDB formats it
with ``localtime_r``), not of the session's ``time_zone``: read under ``time_zone =
'SYSTEM'`` (:data:`_MARIADB`), ``UNIX_TIMESTAMP`` makes it an instant. A wall time repeated
when daylight saving ends is taken as the earlier of its two instants (its time an hour before,
plus an hour), so the read is held back too far rather than not enough."""
_MARIADB = """
{in_os_zone}
SELECT {hint} UTC_TIMESTAMP(6), {open_},
  EXISTS (SELECT 1 FROM {log} WHERE table_name = :table
          AND changed_at > TIMESTAMPADD(SECOND, -{stale}, UTC_TIMESTAMP(6))),
  (SELECT MIN(r.held_at) FROM {reads} r
   JOIN (SELECT MIN(taken_at) AS at FROM {reads} WHERE taken_at >= :since) f
   WHERE r.taken_at >= f.at AND r.taken_at < TIMESTAMPADD(SECOND, 1, f.at))
"""
"""The read's time; the start of the oldest write transaction open (UTC, whole seconds,
rounded down: :data:`_MARIADB_OPEN_UTC`); whether the table has entries of the last
:data:`STALE` seconds (which the read may reach); and the oldest start that the first reads
noted at or after ``since``.

It runs in the operating system's zone (MariaDB ``SET STATEMENT``, MySQL ``SET_VAR``), which
changes nothing else in it: every other time in it is UTC arithmetic or a comparison."""
STALE = 1
"""Seconds that ``INNODB_TRX`` may lag behind: InnoDB refreshes it at most every 0.1 s, so a
transaction begun (or first writing) just before a read may be missing from it. A read that
may reach entries this recent is noted as held back by this much at least."""


@dataclass(frozen=True, slots=True)
class Horizon:
    """What one read of the change log takes before its batches.

    Attributes:
        upto: entries stamped later are left to the next read (naive UTC): then the cursor
            that the read reaches lies before the snapshot it noted.
        start: where the read resumes: ``since``, or (MariaDB) held back to the start of the
            oldest write transaction an earlier read saw open.
        late: entries behind ``start`` to read first (PostgreSQL): those of transactions an
            earlier read could not see. ``None``: none.
    """

    upto: datetime | None
    start: Cursor | None
    late: sa.ColumnElement[bool] | None = None


class Horizons:
    """Takes the :class:`Horizon` of each read of one change log (PostgreSQL, MariaDB).

    Args:
        log: the change-log table.
        dialect: the engine's dialect name.
    """

    def __init__(self, log: sa.Table, dialect: str) -> None:
        self.log = log
        self.dialect = dialect
        self.reads = sa.Table(
            reads_table_name(log.name),
            sa.MetaData(),
            sa.Column("seq", sa.BigInteger, primary_key=True),
            sa.Column("taken_at", sa.DateTime(), nullable=False),
            sa.Column("held_at", sa.DateTime()),
            schema=log.schema,
        )
        self.watching = True
        """False once MariaDB refused ``INNODB_TRX`` (no ``PROCESS`` privilege)."""

    def take(self, conn: sa.Connection, table: str, since: Cursor | None) -> Horizon:
        """The horizon of a read of ``table``'s entries after ``since``, on a connection of its
        own (its work is committed)."""
        reads = conn.dialect.identifier_preparer.format_table(self.reads)
        at = None if since is None else utc(since.modified_at).replace(tzinfo=None)
        if self.dialect == "postgresql":
            return self._postgres(conn, reads, since, at)
        if not self.watching:
            return Horizon(None, since)
        try:
            return self._mariadb(conn, reads, table, since, at)
        except sa.exc.DBAPIError as exc:
            if _errno(exc) != NO_PROCESS:
                raise
            conn.rollback()
            self.watching = False
            log.warning(
                "%s: the change log is read without holding back for long write "
                "transactions: reading information_schema.INNODB_TRX needs the PROCESS "
                "privilege (GRANT PROCESS ON *.* TO the Tandem user); until then a transaction "
                "held open longer than overlap_seconds can be missed",
                self.log.name,
            )
            return Horizon(None, since)

    def can_watch(self, conn: sa.Connection) -> bool:
        """Whether this connection may read the transactions in flight (MariaDB: ``PROCESS``
        for ``INNODB_TRX``; PostgreSQL needs no privilege)."""
        if self.dialect == "postgresql":
            return True
        try:
            conn.execute(sa.text(f"SELECT {_MARIADB_OPEN}")).one()
        except sa.exc.DBAPIError as exc:
            if _errno(exc) != NO_PROCESS:
                raise
            return False
        finally:
            conn.rollback()
        return True

    def _postgres(
        self, conn: sa.Connection, reads: str, since: Cursor | None, at: datetime | None
    ) -> Horizon:
        row = conn.execute(sa.text(_PG.format(reads=reads)), {"since": at}).one()
        conn.commit()
        upto, xmax, xips = row[0], row[1], list(row[2] or [])
        if since is None or (xmax is None and not xips):
            return Horizon(upto, since)
        xid = sa.column("xid", sa.BigInteger)
        unseen: list[sa.ColumnElement[bool]] = []
        if xips:
            unseen.append(xid.in_(xips))
        if xmax is not None:
            unseen.append(xid >= int(xmax))
        return Horizon(upto, since, sa.and_(self._behind(since), sa.or_(*unseen)))

    def _mariadb(
        self,
        conn: sa.Connection,
        reads: str,
        table: str,
        since: Cursor | None,
        at: datetime | None,
    ) -> Horizon:
        log = conn.dialect.identifier_preparer.format_table(self.log)
        mariadb = bool(getattr(conn.dialect, "is_mariadb", False))
        sql = _MARIADB.format(
            in_os_zone="SET STATEMENT time_zone = 'SYSTEM' FOR" if mariadb else "",
            hint="" if mariadb else "/*+ SET_VAR(time_zone = 'SYSTEM') */",
            reads=reads,
            log=log,
            open_=_MARIADB_OPEN_UTC,
            stale=STALE,
        )
        upto, oldest, recent, held = conn.execute(sa.text(sql), {"since": at, "table": table}).one()
        if recent:
            lagging = upto - timedelta(seconds=STALE)
            oldest = lagging if oldest is None else min(oldest, lagging)
        if oldest is not None:
            conn.execute(sa.insert(self.reads).values(taken_at=upto, held_at=oldest))
        conn.commit()
        if since is None or held is None or held >= at:
            return Horizon(upto, since)
        return Horizon(upto, Cursor(utc(held), ""))

    def _behind(self, since: Cursor) -> sa.ColumnElement[bool]:
        """Entries at or before ``since``'s position (those a read after it would skip)."""
        c = self.log.c
        at = utc(since.modified_at).replace(tzinfo=None)
        return sa.or_(c.changed_at < at, sa.and_(c.changed_at == at, c.row_key <= since.key))


def _errno(exc: sa.exc.DBAPIError) -> Any:
    args = getattr(exc.orig, "args", ())
    return args[0] if args else None


__all__ = ["Horizon", "Horizons"]
