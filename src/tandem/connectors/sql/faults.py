"""Database errors turned into Tandem errors, as data: one table per dialect.

Every driver exception is classified as ``retriable`` (connection lost, deadlock, lock
timeout), ``fatal`` (authentication, permission, missing table or column) or ``record``
(this row's data is bad: NOT NULL, too long, bad value, foreign key, unique). Messages are
the database's own, with secrets scrubbed out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import sqlalchemy as sa

from tandem.dbretry import MYSQL_RERUN, SQLSTATE_RERUN
from tandem.errors import ConnectorError, Fatal, Retriable

Action = Literal["retriable", "fatal", "record"]
SYSTEM = "erp"

# MariaDB / MySQL error numbers.
_MYSQL: Mapping[int, Action] = {
    **dict.fromkeys(
        (*sorted(MYSQL_RERUN), 1040, 1053, 1927, 2002, 2003, 2006, 2013, 2055, 4031), "retriable"
    ),
    **dict.fromkeys((1044, 1045, 1142, 1143, 1227, 1146, 1054, 1049, 1698), "fatal"),
    **dict.fromkeys(
        (1048, 1062, 1216, 1217, 1451, 1452, 1264, 1265, 1292, 1366, 1406, 1364, 1690,
         3819, 4025, 1367, 1411, 1292, 1918),
        "record",
    ),
}  # fmt: skip

# PostgreSQL SQLSTATE: exact codes first, then two-character classes.
_PG_CODES: Mapping[str, Action] = {
    **dict.fromkeys(sorted(SQLSTATE_RERUN), "retriable"),
    "55P03": "retriable",
    "57014": "retriable",
    "42501": "fatal",
    "42P01": "fatal",
    "42703": "fatal",
}
_PG_CLASSES: Mapping[str, Action] = {
    "08": "retriable",
    "53": "retriable",
    "57": "retriable",
    "58": "retriable",
    "28": "fatal",
    "22": "record",
    "23": "record",
}
_AUTH_WORDS = ("password authentication", "authentication failed", "access denied", "role ")
_BAD_SETTING = re.compile(r"invalid \w+ value|connection option")
"""libpq's refusals of the connection settings themselves (``invalid sslmode value: "bogus"``,
``invalid integer value "abc" for connection option "port"``): no SQLSTATE, an
``OperationalError`` like a server that is down, but no retry will ever get past them."""


def classify(exc: BaseException) -> Action:
    """What the caller should do about ``exc`` (a SQLAlchemy or driver exception)."""
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return "retriable"
        orig: BaseException = exc.orig if exc.orig is not None else exc
    elif isinstance(exc, sa.exc.StatementError):
        return "record"  # a value SQLAlchemy itself could not bind
    elif isinstance(exc, (TypeError, ValueError, OverflowError)):
        return "record"
    elif isinstance(exc, sa.exc.TimeoutError | ConnectionError | TimeoutError):
        return "retriable"
    else:
        orig = exc
    module = type(orig).__module__
    if module.startswith("pymysql") or module.startswith("MySQLdb"):
        return _classify_mysql(orig)
    if module.startswith("psycopg"):
        return _classify_pg(orig)
    if module.startswith("sqlite3"):
        return _classify_sqlite(orig)
    name = type(orig).__name__
    if name in ("IntegrityError", "DataError"):
        return "record"
    return "retriable" if name in ("OperationalError", "InterfaceError") else "fatal"


def _classify_mysql(orig: BaseException) -> Action:
    errno = orig.args[0] if orig.args and isinstance(orig.args[0], int) else 0
    if errno in _MYSQL:
        return _MYSQL[errno]
    name = type(orig).__name__
    if name in ("IntegrityError", "DataError"):
        return "record"
    if name in ("OperationalError", "InterfaceError"):
        return "retriable" if errno == 0 or errno >= 2000 else "fatal"
    return "fatal"


def _classify_pg(orig: BaseException) -> Action:
    state = getattr(orig, "sqlstate", None)
    if state:
        if state in _PG_CODES:
            return _PG_CODES[state]
        return _PG_CLASSES.get(state[:2], "fatal")
    text = str(orig).lower()
    if any(word in text for word in _AUTH_WORDS) or "does not exist" in text:
        return "fatal"
    if _BAD_SETTING.search(text):
        return "fatal"
    name = type(orig).__name__
    return "retriable" if name in ("OperationalError", "InterfaceError") else "fatal"


def _classify_sqlite(orig: BaseException) -> Action:
    name = type(orig).__name__
    text = str(orig).lower()
    if name == "IntegrityError" or "datatype mismatch" in text or "too big" in text:
        return "record"
    if "locked" in text or "busy" in text:
        return "retriable"
    return "fatal"


def message_of(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The database's own message for ``exc``, on one line, secrets replaced by ``***``."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    if type(orig).__module__.startswith("pymysql") and len(orig.args) >= 2:
        text = f"({orig.args[0]}) {orig.args[1]}"
    elif isinstance(orig, sa.exc.StatementError) and orig.orig is not None:
        text = str(orig.orig)
    else:
        text = str(orig)
    text = " ".join(text.split())
    return scrub(text, secrets)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def translate(exc: BaseException, *, operation: str, secrets: Iterable[str] = ()) -> ConnectorError:
    """A :class:`Retriable` or :class:`Fatal` for an error that concerns the whole call."""
    message = message_of(exc, secrets)
    if classify(exc) == "retriable":
        return Retriable(message, system=SYSTEM, operation=operation)
    return Fatal(message, system=SYSTEM, operation=operation)


_COLUMN_PATTERNS = (
    re.compile(r"(?:NOT NULL|UNIQUE) constraint failed: (?:\w+\.)?(\w+)"),  # SQLite
    # MariaDB 1366 (bad value, a 4-byte character in utf8mb3): for column `db`.`table`.`x`
    re.compile(r"[Cc]olumn `[^`]*`\.`[^`]*`\.`([^`]+)`"),
    re.compile(r"[Cc]olumn ['`\"]([^'`\"]+)['`\"]"),  # MariaDB: Column 'x' cannot be null; too long
    re.compile(r"FOREIGN KEY \(`?(\w+)`?\)"),  # MariaDB foreign key
    re.compile(r"Key \((\w+)\)="),  # PostgreSQL detail: Key (x)=(...)
    re.compile(r"\bfor key ['`\"](?:\w+\.)?(\w+)['`\"]"),  # MariaDB duplicate entry
    re.compile(r"CONSTRAINT `(?:[^`.]*\.)?([^`]+)` failed"),  # MariaDB column CHECK: `table.x`
)


def field_of(exc: BaseException, message: str, values: Mapping[str, Any]) -> str | None:
    """The column the database blamed, when it named one that the op wrote."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else None
    diag = getattr(orig, "diag", None)
    column = getattr(diag, "column_name", None) if diag is not None else None
    if column:
        return str(column)
    for pattern in _COLUMN_PATTERNS:
        found = pattern.search(message)
        if found and found.group(1) in values:
            return found.group(1)
    return None


def code_of(exc: BaseException) -> str | None:
    """The database's error code (SQLSTATE or error number) as text, when it gave one."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else None
    if orig is None:
        return None
    state = getattr(orig, "sqlstate", None)
    if state:
        return str(state)
    if orig.args and isinstance(orig.args[0], int):
        return str(orig.args[0])
    return None
