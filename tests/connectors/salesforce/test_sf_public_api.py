"""The package's public API is small, sorted and importable; no code shared with the sandbox."""

from __future__ import annotations

import ast
from pathlib import Path

import tandem.connectors.salesforce as package

SRC = Path(package.__file__).parent


def test_public_api() -> None:
    assert package.__all__ == sorted(package.__all__)
    assert package.__all__ == [
        "SalesforceClient",
        "SalesforceConnector",
        "SalesforceSettings",
        "create_connector",
    ]
    for name in package.__all__:
        assert getattr(package, name).__doc__


def test_no_import_from_the_sandbox() -> None:
    sources = [*SRC.glob("*.py"), SRC.parent / "http.py", SRC.parent / "quota.py"]
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.startswith("tandem.sandbox") for n in names), path
