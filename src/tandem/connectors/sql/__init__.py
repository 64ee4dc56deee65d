"""The SQL-database ERP connector: SQLite, PostgreSQL (psycopg 3) and MariaDB (PyMySQL).

Change capture by a trigger-maintained change log (:func:`install_capture`), or a modified-at
column for read-only access; LISTEN/NOTIFY wake-ups on PostgreSQL.
"""

from collections.abc import Mapping
from typing import Any

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


def create_connector(settings: Mapping[str, Any]) -> SqlConnector:
    """Build a :class:`SqlConnector` from a connection's settings mapping (the registry's factory).

    Raises:
        ConfigError: the settings are invalid.
    """
    return SqlConnector(settings)
