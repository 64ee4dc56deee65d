"""Database answers that mean "run the transaction again": it lost a deadlock, waited too
long for a lock, or met a serialization conflict. Shared by the state store (which reruns
its own short transactions) and the SQL connector (which reports them as retriable)."""

from __future__ import annotations

MYSQL_RERUN = frozenset({1205, 1213})
"""MariaDB/MySQL error numbers: lock wait timeout, deadlock found."""

SQLSTATE_RERUN = frozenset({"40001", "40P01"})
"""PostgreSQL SQLSTATEs: serialization_failure, deadlock_detected."""


def is_deadlock(error: BaseException) -> bool:
    """Whether ``error`` (or a database error behind it, through ``orig`` and ``__cause__``)
    says the transaction lost a deadlock or a serialization conflict: run again, it will
    likely pass."""
    seen: BaseException | None = error
    while seen is not None:
        orig = getattr(seen, "orig", None)
        if orig is not None:
            if getattr(orig, "sqlstate", None) in SQLSTATE_RERUN:
                return True
            args = getattr(orig, "args", ())
            if args and isinstance(args[0], int) and args[0] in MYSQL_RERUN:
                return True
        seen = seen.__cause__
    return False


__all__ = ["MYSQL_RERUN", "SQLSTATE_RERUN", "is_deadlock"]
