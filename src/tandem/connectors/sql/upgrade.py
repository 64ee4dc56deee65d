"""Change-log entries written by the triggers of an earlier release, in the reader's text.

Earlier releases logged a key as the database's own text of it: PostgreSQL's JSON text of a
``timestamp`` (``2026-01-02T03:04:05.25``), ``timestamptz`` (in the writer's offset),
``time`` (``03:04:05.25``) and ``boolean`` (``true``), MariaDB's ``CAST(... AS CHAR)`` of a
``DATETIME`` (``.000000`` when whole) or a ``ZEROFILL`` number (``000005``). Such an entry
names no row by the reader's text, so it would read as the delete of a key that never existed
while the row's change is lost. When ``install-capture`` replaces the triggers of a table, the
entries still in the log are rewritten in the reader's text (:func:`rewrite_legacy_keys`):
from then on the log holds the reader's text only, whichever release wrote an entry.

The very first release seeded a PostgreSQL ``CHAR(n)`` key trimmed (``CAST(k AS TEXT)``),
where the reader (and every trigger) has it padded to ``n`` characters: such an entry is padded
again (:func:`pad_char_keys`). A MariaDB ``TIMESTAMP`` key that
an earlier release logged in a writer's session time zone cannot be told from its text (which
carries no zone): every row of such a table is logged again (:func:`zoned_text_triggers`), so
that no change made before the upgrade is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, time
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from tandem.connectors.sql.reader import key_text

_CHUNK = 5000
"""Key texts read at a time: a long log is not read into memory at once."""
_BOOLEANS = {"true": "True", "false": "False", "True": "True", "False": "False"}


def _number(text: str) -> str:
    return key_text(Decimal(text))  # ZEROFILL: '000005' -> '5', '000003.50' -> '3.50'


def _datetime(text: str) -> str:
    return key_text(datetime.fromisoformat(text))  # an offset given: as UTC, the reader's


def _time(text: str) -> str:
    return key_text(time.fromisoformat(text))


def _boolean(text: str) -> str:
    return _BOOLEANS[text]


_READER_TEXT: dict[str, Callable[[str], str]] = {
    "zerofill": _number,
    "datetime": _datetime,
    "instant": _datetime,
    "time": _time,
    "boolean": _boolean,
}
"""Key kinds (``capture.KeyKind``) whose logged text an earlier release wrote otherwise ->
the reader's text of the key that text names. The other kinds' text has not changed."""


def reader_text(kind: str, logged: str) -> str:
    """The reader's text of the key that a change-log entry's ``logged`` text names.

    The reader's own text is returned as it is, and so is a text that names no value of the
    kind (``infinity``, an era): there is nothing to tell of it but what it says.
    """
    render = _READER_TEXT.get(kind)
    if render is None:
        return logged
    try:
        return render(logged)
    except (ValueError, KeyError, InvalidOperation):
        return logged


def rewrite_legacy_keys(conn: sa.Connection, log: sa.Table, table: str, kind: str) -> int:
    """Rewrite ``table``'s change-log entries whose key text is not the reader's.

    Run after the table's triggers are replaced (and before, for the bulk of a long log, while
    the ERP's table is not locked yet), so that no entry in an earlier text can follow
    (on MariaDB each trigger's DDL commits at once). The rewrite is idempotent: an entry in the
    reader's text is left as it is.

    Returns:
        How many distinct key texts were rewritten.
    """
    if kind not in _READER_TEXT:
        return 0
    stmt = sa.select(log.c.row_key).where(log.c.table_name == table).distinct()
    logged = conn.execute(stmt.execution_options(yield_per=_CHUNK)).scalars()
    renamed = [
        {"old_key": text, "new_key": new}
        for text in map(str, logged)
        if (new := reader_text(kind, text)) != text
    ]
    if renamed:
        _rename(conn, log, table, renamed)
    return len(renamed)


def _rename(conn: sa.Connection, log: sa.Table, table: str, renamed: list[dict[str, str]]) -> None:
    """Rename ``table``'s entries ``old_key`` -> ``new_key``.

    On PostgreSQL in one statement (the pairs as two arrays, joined), not one per key text:
    install-capture runs in one transaction there, and a round trip per text would keep the
    ERP's tables whose triggers it has replaced locked for minutes on a long log.
    """
    if conn.dialect.name == "postgresql":
        stmt = sa.text(
            f"UPDATE {conn.dialect.identifier_preparer.format_table(log)} AS cl "
            "SET row_key = m.new_key "
            "FROM unnest(CAST(:old AS text[]), CAST(:new AS text[])) AS m(old_key, new_key) "
            "WHERE cl.table_name = :table AND cl.row_key = m.old_key"
        )
        old, new = [p["old_key"] for p in renamed], [p["new_key"] for p in renamed]
        conn.execute(stmt, {"old": old, "new": new, "table": table})
        return
    conn.execute(
        sa.update(log)
        .where(log.c.table_name == table, log.c.row_key == sa.bindparam("old_key"))
        .values(row_key=sa.bindparam("new_key")),
        renamed,
    )


_CHAR_LENGTH = sa.text(
    "SELECT data_type, character_maximum_length FROM information_schema.columns "
    "WHERE table_schema = COALESCE(:schema, current_schema()) AND table_name = :table "
    "AND column_name = :column"
)
"""A column's type and declared length, a domain's as its base type's."""


def pad_char_keys(
    conn: sa.Connection, log: sa.Table, table: str, key: str, schema: str | None
) -> int:
    """Pad ``table``'s change-log entries of a PostgreSQL ``CHAR(n)`` key to ``n`` characters.

    The reader reads such a key padded with spaces to ``n`` characters, and so do the triggers
    log it, so a shorter text in the log is the trimmed text of the first release's seed: as it
    is, it would read as the delete of a key that names no row, and the record would never be
    synced. Idempotent; nothing on another database, or for another type.

    Returns:
        How many entries were padded.
    """
    if conn.dialect.name != "postgresql":
        return 0
    params = {"schema": schema, "table": table, "column": key}
    found = conn.execute(_CHAR_LENGTH, params).first()
    if found is None or found[0] != "character" or found[1] is None:
        return 0
    length = int(found[1])
    padded = conn.execute(
        sa.update(log)
        .where(log.c.table_name == table, sa.func.char_length(log.c.row_key) < length)
        .values(row_key=sa.func.rpad(log.c.row_key, length))
    )
    return int(padded.rowcount)


def zoned_text_triggers(
    conn: sa.Connection, kind: str, triggers: Sequence[str], schema: str | None
) -> bool:
    """Whether ``triggers`` (a table's capture triggers, before they are replaced) are an
    earlier release's that logged a MariaDB ``TIMESTAMP`` key in the writer's time zone.

    The current triggers log such a key as its UTC time, from its Unix time.
    """
    if kind != "instant" or conn.dialect.name not in ("mysql", "mariadb"):
        return False
    found = sa.text(
        "SELECT ACTION_STATEMENT FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = COALESCE(:schema, DATABASE()) AND TRIGGER_NAME IN :names"
    ).bindparams(sa.bindparam("names", expanding=True))
    bodies = conn.execute(found, {"schema": schema, "names": list(triggers)}).scalars()
    return any("UNIX_TIMESTAMP(" not in str(body).upper() for body in bodies)
