"""Whether a state store exists at a URL, and where it is, for a person: asked without
creating anything (the read-only commands must not leave an empty store behind); and whether
a SQLite state file is still the one a long-running process opened (:class:`StateFile`)."""

from __future__ import annotations

from pathlib import Path

from tandem.errors import StoreError
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


class StateFile:
    """The SQLite file of a state store, as it was when a long-running process opened it.

    Deleted under a running agent (an operator's reset, a temp-folder cleaner), the file
    lives on for the connections that hold it open: passes go on committing links, agreed
    state and cursors where no later process reads them, without a word. ``tandem run``
    makes one when it starts and calls :meth:`check` before each pass, stopping once the file
    is gone or another file took its place (told by its device and inode).

    Only a SQLite file on disk is watched: for a database server's URL, a store in memory, a
    ``file:`` URI, or a file not there when it is made, :attr:`path` is ``None`` and
    :meth:`check` never raises.

    Attributes:
        path: the watched file, or ``None`` when there is none to watch.
    """

    def __init__(self, url: str) -> None:
        """Note which file the state store at ``url`` is now.

        Raises:
            StoreError: bad URL.
        """
        self.path: Path | None = None
        self._identity: tuple[int, int] | None = None
        location = state_location(url)
        if "://" in location or location.startswith("file:") or location == ":memory:":
            return  # a database server's, or not a file this process can watch
        path = Path(location)
        self._identity = _identity(path)
        if self._identity is not None:
            self.path = path

    def check(self) -> None:
        """Raise :class:`StoreError` if the file is no longer the one this was made with.

        Raises:
            StoreError: the file was deleted or replaced; the message names it.
        """
        if self.path is not None and _identity(self.path) != self._identity:
            raise StoreError(
                f"the state store {self.path} was deleted or replaced while this agent used "
                "it; stopping, so that nothing more is committed where no later run reads it. "
                "Put it back (from a backup) before starting again"
            )


def _identity(path: Path) -> tuple[int, int] | None:
    """The file at ``path`` as ``(device, inode)``, or ``None`` when there is none."""
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def _is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` is a file that starts as every SQLite database does."""
    try:
        with path.open("rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


_SQLITE_MAGIC = b"SQLite format 3\x00"


__all__ = ["StateFile", "holds_state", "state_location"]
