"""Whether a state store exists at a URL, and where it is, for a person: asked without
creating anything (the read-only commands must not leave an empty store behind)."""

from __future__ import annotations

from pathlib import Path

from tandem.store.engine import (
    READ_ONLY,
    create_engine,
    normalise_url,
    stored_revisions,
    translated,
)


def state_location(url: str) -> str:
    """Where the state store at ``url`` is: a SQLite file's path, else the URL without its
    password."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def holds_state(url: str) -> bool:
    """Whether a state store exists at ``url``: a database with Tandem's schema in it.

    Creates nothing: a SQLite file that is not there is not opened (opening it would create
    it, and its folder), and a database without Tandem's tables is only read.

    Raises:
        StoreError: bad URL, or the database cannot be reached.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            return False  # a store in memory lives no longer than the process that made it
        if not database.startswith("file:") and not _is_sqlite_file(Path(database).expanduser()):
            return False  # opening an empty or foreign file would write SQLite's header to it
    engine = create_engine(url)
    try:
        with translated("read the state store's schema revision"), engine.connect() as conn:
            conn.execution_options(**{READ_ONLY: True})  # no write lock: a sync may be running
            revisions = stored_revisions(conn)
            conn.rollback()
    finally:
        engine.dispose()
    return bool(revisions)


def _is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` is a file that starts as every SQLite database does."""
    try:
        with path.open("rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


_SQLITE_MAGIC = b"SQLite format 3\x00"


__all__ = ["holds_state", "state_location"]
