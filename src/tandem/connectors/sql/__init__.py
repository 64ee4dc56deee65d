"""The SQL-database ERP connector: SQLite, PostgreSQL (psycopg 3) and MariaDB (PyMySQL).

Change capture by a trigger-maintained change log (:func:`install_capture`), or a modified-at
column for read-only access; LISTEN/NOTIFY wake-ups on PostgreSQL.

The names below load on first use, so that importing :mod:`tandem.connectors.sql.settings`
alone (``tandem schema``) does not load the connector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tandem.connectors.lazy import lazy_names

if TYPE_CHECKING:
    from tandem.connectors.sql.capture import (
        CaptureStatus,
        capture_status,
        install_capture,
        prune_changelog,
        uninstall_capture,
    )
    from tandem.connectors.sql.connector import SqlConnector
    from tandem.connectors.sql.settings import SqlSettings

__all__ = [
    "CaptureStatus",
    "SqlConnector",
    "SqlSettings",
    "capture_status",
    "create_connector",
    "install_capture",
    "prune_changelog",
    "uninstall_capture",
]

_LAZY = {
    "CaptureStatus": "capture",
    "capture_status": "capture",
    "install_capture": "capture",
    "prune_changelog": "capture",
    "uninstall_capture": "capture",
    "SqlConnector": "connector",
    "SqlSettings": "settings",
}


__getattr__ = lazy_names(__name__, _LAZY)


def create_connector(settings: Mapping[str, Any]) -> SqlConnector:
    """Build a :class:`SqlConnector` from a connection's settings mapping (the registry's factory).

    Raises:
        ConfigError: the settings are invalid.
    """
    from tandem.connectors.sql.connector import SqlConnector

    return SqlConnector(settings)
