"""Shared fixtures: real database servers for the tests that need them.

A test that needs PostgreSQL or MariaDB gets a fresh, empty database created for the
test session and dropped afterwards. Where the server is not running the test is skipped,
except under CI (``CI=true``), where a missing server is a failure: a green CI run must
have exercised the real parts.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

# Property tests check outcomes, not speed: on a busy 2-core machine an example may take
# longer than Hypothesis's 200 ms deadline, or its data longer to draw, without any fault.
# The CLI's consoles size themselves from the environment when first made. pytest-xdist's
# workers are given COLUMNS=80 and LINES=24, which would fix every table at 80 columns
# whatever width a test asks of its CliRunner.
for _size in ("COLUMNS", "LINES"):
    os.environ.pop(_size, None)

settings.register_profile("tandem", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("tandem")

sys.path.insert(0, str(Path(__file__).parent / "support"))  # shared test helpers (tandem_env)

from pg_server import private_server  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "TANDEM_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get("TANDEM_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/")


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable: {exc}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _fresh_database(admin_url: str, what: str, prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # any driver error means: no server to test against
        _unavailable(what, exc)
        return
    url = sa.engine.make_url(admin_url).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if admin.dialect.name == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh PostgreSQL database (psycopg 3 driver)."""
    yield from _fresh_database(PG_ADMIN_URL, "PostgreSQL", "tandem_test")


@pytest.fixture(scope="session")
def pg_2pc_url() -> Iterator[str]:
    """SQLAlchemy URL of a database on a PostgreSQL server of this session's own that allows
    prepared transactions (two-phase commit: off on the shared server, as by default), with
    autovacuum off so that no transaction but a test's own takes a transaction id."""
    settings = {"max_prepared_transactions": "4", "autovacuum": "off"}
    with contextlib.ExitStack() as stack:
        try:
            admin_url = stack.enter_context(private_server(settings))
        except (OSError, subprocess.CalledProcessError) as exc:
            _unavailable("A private PostgreSQL server", exc)
            return
        yield from _fresh_database(admin_url, "A private PostgreSQL server", "tandem_test")


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh MariaDB database (PyMySQL driver)."""
    yield from _fresh_database(MARIADB_ADMIN_URL, "MariaDB", "tandem_test")


@pytest.fixture
def pg_fresh_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL database of this test alone."""
    yield from _fresh_database(PG_ADMIN_URL, "PostgreSQL", "tandem_one")


@pytest.fixture
def mariadb_fresh_url() -> Iterator[str]:
    """SQLAlchemy URL of a MariaDB database of this test alone."""
    yield from _fresh_database(MARIADB_ADMIN_URL, "MariaDB", "tandem_one")
