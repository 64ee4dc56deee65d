"""The CLI process tunes the garbage collector for batch work."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tandem.cli.common import GC_THRESHOLDS, tune_collector


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tuning_freezes_what_is_loaded_and_raises_the_thresholds(collector: None) -> None:
    tune_collector()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert GC_THRESHOLDS[0] > 700  # fewer young collections than CPython's default


def test_the_tandem_entry_point_tunes_its_process() -> None:
    code = (
        "import gc, sys\n"
        "from tandem import cli\n"
        "sys.argv = ['tandem', 'version']\n"
        "try:\n"
        "    cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(gc.get_threshold(), gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith(f"{GC_THRESHOLDS} True")
