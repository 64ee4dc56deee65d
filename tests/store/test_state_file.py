"""``StateFile``: a long-running process tells that its SQLite state file was deleted or
replaced under it (the CLI side: tests/cli/test_run_resilience_state.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tandem.errors import StoreError
from tandem.store import StateFile, StateStore


def made(url: str) -> None:
    store = StateStore(url)
    store.migrate()
    store.close()


def test_an_untouched_file_passes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    made(url)
    state = StateFile(url)
    assert state.path == tmp_path / "state.db"
    state.check()
    StateStore(url).close()  # opened and written again, still the same file
    state.check()


def test_a_deleted_file_stops_the_run_naming_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    made(url)
    state = StateFile(url)
    (tmp_path / "state.db").unlink()
    with pytest.raises(StoreError, match="deleted or replaced") as raised:
        state.check()
    assert str(tmp_path / "state.db") in str(raised.value)


def test_a_replaced_file_stops_the_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    made(url)
    state = StateFile(url)
    made(f"sqlite:///{tmp_path}/backup.db")
    os.replace(tmp_path / "backup.db", tmp_path / "state.db")  # another inode in its place
    with pytest.raises(StoreError, match="deleted or replaced"):
        state.check()


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:state?mode=memory&cache=shared&uri=true",
        "postgresql+psycopg://tandem:secret@127.0.0.1:5432/tandem",
    ],
)
def test_nothing_to_watch_never_stops_the_run(url: str) -> None:
    state = StateFile(url)
    assert state.path is None
    state.check()


def test_a_file_not_there_yet_is_not_watched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    state = StateFile(url)
    assert state.path is None
    made(url)
    (tmp_path / "state.db").unlink()
    state.check()
