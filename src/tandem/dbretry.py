"""Database answers that mean "run the transaction again": it lost a deadlock, waited too
long for a lock, or met a serialization conflict. Shared by the state store (which reruns
its own short transactions) and the SQL connector (which reports them as retriable)."""

from __future__ import annotations

from collections.abc import Iterator

MYSQL_RERUN = frozenset({1205, 1213})
"""MariaDB/MySQL error numbers: lock wait timeout, deadlock found."""

SQLSTATE_RERUN = frozenset({"40001", "40P01"})
"""PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected."""

SQLSTATE_LOCK_TIMEOUT = "55P03"
"""PostgreSQL SQLSTATE lock_not_available: ``lock_timeout`` ran out waiting for a lock."""

SQLITE_BUSY = frozenset({5, 6})
"""SQLite primary result codes SQLITE_BUSY ("database is locked": ``busy_timeout`` ran out
waiting for another connection's lock) and SQLITE_LOCKED (a lock within one connection)."""


def _driver_errors(error: BaseException) -> Iterator[BaseException]:
    """The driver's errors behind ``error``: each ``orig`` along its ``__cause__`` chain."""
    seen: BaseException | None = error
    while seen is not None:
        orig = getattr(seen, "orig", None)
        if orig is not None:
            yield orig
        seen = seen.__cause__


def is_deadlock(error: BaseException) -> bool:
    """Whether ``error`` (or a database error behind it, through ``orig`` and ``__cause__``)
    says the transaction lost a deadlock or a serialization conflict: run again, it will
    likely pass."""
    for orig in _driver_errors(error):
        if getattr(orig, "sqlstate", None) in SQLSTATE_RERUN:
            return True
        args = getattr(orig, "args", ())
        if args and isinstance(args[0], int) and args[0] in MYSQL_RERUN:
            return True
    return False


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` (or a database error behind it) says the database stayed locked
    longer than the connection waits (SQLite's ``database is locked``, PostgreSQL's
    ``lock_timeout``, MariaDB's lock wait timeout), or the transaction lost a deadlock: the
    same transaction may pass later, once the other holder lets go."""
    if is_deadlock(error):
        return True
    for orig in _driver_errors(error):
        if getattr(orig, "sqlstate", None) == SQLSTATE_LOCK_TIMEOUT:
            return True
        code = getattr(orig, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in SQLITE_BUSY:
            return True
    return False


__all__ = [
    "MYSQL_RERUN",
    "SQLITE_BUSY",
    "SQLSTATE_LOCK_TIMEOUT",
    "SQLSTATE_RERUN",
    "is_busy",
    "is_deadlock",
]
