"""Database URLs as users write them: the driver Tandem ships with filled in, and a clear
refusal of a dialect or driver this installation lacks (before anything connects).

Shared by the state store and the SQL ERP connector, which take the same kinds of URL.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import NoSuchModuleError

DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
"""A URL naming a database but no driver gets the one Tandem's extras install."""

EXTRAS = {"postgresql": "postgresql", "mysql": "mariadb", "mariadb": "mariadb"}
"""The pip extra of Tandem that installs a backend's driver."""


def with_driver(url: sa.URL) -> sa.URL:
    """``url`` with the driver Tandem ships with when it names none (``postgresql://`` ->
    ``postgresql+psycopg://``, ``mysql://``/``mariadb://`` -> PyMySQL)."""
    driver = DRIVERS.get(url.drivername)
    return url.set(drivername=driver) if driver else url


def driver_problem(url: sa.URL) -> str | None:
    """Why SQLAlchemy could not connect with ``url``'s dialect and driver here; ``None`` when
    both load. The message names the dialect and driver, never the rest of the URL."""
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        return (
            f"unknown database dialect {url.drivername!r}: expected e.g. sqlite:///erp.db,"
            " postgresql+psycopg://... or mariadb+pymysql://..."
        )
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        extra = EXTRAS.get(url.get_backend_name())
        hint = f": pip install 'tandem[{extra}]'" if extra else ""
        return f"the driver of {url.drivername!r} is not installed (no module {exc.name!r}){hint}"
    return None


__all__ = ["DRIVERS", "driver_problem", "with_driver"]
