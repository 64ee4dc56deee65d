"""One malloc arena: threads that allocate share the main one (glibc)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tandem.memory import one_malloc_arena

# Four threads allocate and free blocks above pymalloc's limit (so they go through malloc),
# then glibc's malloc_info lists the arenas (one <heap nr=...> element each).
PROGRAM = """
import ctypes, sys, threading
from tandem.memory import one_malloc_arena
took = one_malloc_arena() if sys.argv[2] == "one" else False

def churn():
    for _ in range(200):
        blocks = [bytearray(64 * 1024) for _ in range(8)]
        del blocks

threads = [threading.Thread(target=churn) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
out = libc.fopen(sys.argv[1].encode(), b"w")
libc.malloc_info(0, out)
libc.fclose(out)
print(took)
"""


def arenas(tmp_path: Path, mode: str) -> tuple[int, str]:
    report = tmp_path / f"malloc-{mode}.xml"
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(report), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return report.read_text().count("<heap nr="), done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc arenas")
def test_threads_that_allocate_share_one_arena(tmp_path: Path) -> None:
    default, _ = arenas(tmp_path, "default")
    single, took = arenas(tmp_path, "one")
    assert took == "True"
    assert default > 1  # each allocating thread got an arena of its own
    assert single == 1


def test_elsewhere_than_linux_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert one_malloc_arena() is False
