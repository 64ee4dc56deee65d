"""The test tree stays importable: pytest imports test modules by their file names."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent


def test_test_module_names_are_unique() -> None:
    names = Counter(
        path.name
        for path in TESTS.rglob("*.py")
        if path.name not in ("__init__.py", "conftest.py")
        and not (path.parent / "__init__.py").exists()
    )
    assert [name for name, count in names.items() if count > 1] == []
