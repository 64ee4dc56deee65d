#!/usr/bin/env bash
# The test command of the README: creates the virtualenv if needed, installs Tandem with its
# development extras, then runs lint, type checks and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy
# The tests run on as many workers as the machine has cores, up to four (each test has its own
# databases, ports and folders; most of a test's time is waiting on a server it started).
# Pass -n 0 to run them in this one process.
.venv/bin/pytest -p no:cacheprovider -n auto --maxprocesses 4 --dist worksteal "$@"
