"""Names of a connector package that load their module on first use.

A connector package re-exports its connector, client and settings; importing the package for
its settings alone (``tandem schema`` builds the JSON Schema from them) should not load the
client and its dependencies. ``__getattr__ = lazy_names(__name__, {...})`` in the package does
that: a name is imported from its submodule when first asked for, then kept in the package.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``modules`` from its submodule.

    Args:
        package: the package's ``__name__``.
        modules: exported name -> the submodule (relative to ``package``) that defines it.
    """

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # the next look-up finds it directly
        return value

    return __getattr__


__all__ = ["lazy_names"]
