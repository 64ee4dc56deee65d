#!/usr/bin/env bash
# The demo command of the README: creates the virtualenv if needed, installs Tandem, runs
# `tandem demo` (a sample SQLite ERP, the local Salesforce sandbox, a real sync). No server needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/tandem demo "$@"
