"""The CLI's tests run against the demo flow: a SQLite ERP and the HTTPS sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """The demo flow between a SQLite ERP and the sandbox."""
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}")
