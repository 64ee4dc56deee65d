"""``tandem run`` (a child process) when its SQLite state store's file is deleted under it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env
from test_run_resilience_agent import agent, linked, wait_until


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=3)


def test_run_stops_when_its_state_file_is_deleted(env: Env) -> None:
    """The open connections keep the deleted file alive: without a check the agent would go
    on committing links and cursors into it, all lost at its next start."""
    with agent(env.config, env.folder) as run:
        wait_until("the initial load", lambda: linked(env) == 3)
        for part in env.folder.glob("state.db*"):
            part.unlink()
        env.erp("UPDATE customers SET phone = '+48 888 888 888' WHERE id = 3")
        assert run.process.wait(timeout=60) == 1, run.log()
    assert "was deleted or replaced while this agent used it" in " ".join(run.log().split())
    assert str(env.folder / "state.db") in run.log().replace("\n", "")
