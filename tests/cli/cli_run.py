"""``tandem`` run in-process as a user types it: the one helper the CLI tests share.

A plain module, not a fixture: pytest puts this folder (it has no ``__init__.py``) on
``sys.path`` for the test modules in it, so they import it by name (``from cli_run import
tandem``), as they import ``tandem_env`` from tests/support.
"""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from tandem.cli import app

runner = CliRunner(env={"COLUMNS": "200"})  # wide enough that no table cell is wrapped


def tandem(*args: str) -> tuple[int, str]:
    """Run ``tandem ARGS...``; its exit code and its output (stdout and stderr)."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def tandem_json(*args: str, code: int = 0) -> Any:
    """Run ``tandem ARGS... --json``; expect exit code ``code``; the JSON it printed."""
    got, out = tandem(*args, "--json")
    assert got == code, out
    return json.loads(out)


__all__ = ["runner", "tandem", "tandem_json"]
