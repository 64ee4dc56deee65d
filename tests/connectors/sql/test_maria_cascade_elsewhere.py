"""MariaDB: a foreign key whose parent is in another database.

A trigger of the change log's database cannot sit on a table of another database, so the
child rows such a key's action deletes or changes are not logged: ``install-capture`` says
so, naming the foreign key, and installs the rest. A chain of ``ON DELETE CASCADE`` that
leaves the database on its way up is named the same way.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tandem.connectors.sql import install_capture

pytestmark = pytest.mark.mariadb

CASCADES = "tandem.connectors.sql.capture.mysql"


@pytest.fixture
def other_db(maria_engine: sa.Engine) -> Iterator[str]:
    """A second database on the same server, dropped afterwards."""
    name = f"tandem_other_{uuid.uuid4().hex[:8]}"
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with maria_engine.begin() as conn:  # the test's tables still reference it
            conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql("SET SESSION foreign_key_checks = 1")


def _tables(engine: sa.Engine, *statements: str) -> None:
    """Run ``statements`` (tables, foreign keys, rows) in one transaction."""
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def _the_warning(
    engine: sa.Engine, child: str, changelog: str, caplog: pytest.LogCaptureFixture
) -> str:
    """Install capture on ``child`` alone; the one warning it gives of foreign keys."""
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        install_capture(engine, [(child, "id")], changelog_table=changelog, seed=False)
    (warning,) = [r.getMessage() for r in caplog.records if r.name == CASCADES]
    return warning


def test_a_parent_in_another_database_is_named_and_its_cascade_not_logged(
    maria_engine: sa.Engine, other_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    child, cl = f"cont_{uuid.uuid4().hex[:8]}", f"cl_{uuid.uuid4().hex[:8]}"
    _tables(
        maria_engine,
        f"CREATE TABLE {other_db}.cust (id INT PRIMARY KEY)",
        f"CREATE TABLE {child} (id INT PRIMARY KEY, cust INT, CONSTRAINT {child}_fk "
        f"FOREIGN KEY (cust) REFERENCES {other_db}.cust (id) ON DELETE CASCADE)",
        f"INSERT INTO {other_db}.cust VALUES (1)",
        f"INSERT INTO {child} VALUES (10, 1), (11, NULL)",
    )
    warning = _the_warning(maria_engine, child, cl, caplog)
    assert f"table '{child}': foreign key '{child}_fk' to 'cust' (ON DELETE CASCADE)" in warning
    assert "a parent in another database" in warning
    with maria_engine.begin() as conn:
        triggers = conn.exec_driver_sql(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s",
            (other_db,),
        ).all()
        conn.exec_driver_sql(f"DELETE FROM {other_db}.cust WHERE id = 1")
        conn.exec_driver_sql(f"UPDATE {child} SET cust = NULL WHERE id = 11")  # its own write
        left = conn.exec_driver_sql(f"SELECT id FROM {child}").scalars().all()
        logged = conn.exec_driver_sql(f"SELECT row_key, op FROM {cl}").all()
    assert triggers == []  # nothing installed in the other database
    assert left == [11]
    assert [tuple(r) for r in logged] == [("11", "U")]  # the cascade's delete of 10 is not


def test_a_chain_leaving_the_database_is_named(
    maria_engine: sa.Engine, other_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """customer (here) -> region (here) -> country (elsewhere), every key ON DELETE CASCADE:
    the trigger on region logs a region's delete; a country's delete is named."""
    tag = uuid.uuid4().hex[:8]
    region, child, cl = f"reg_{tag}", f"cust_{tag}", f"cl_{tag}"
    _tables(
        maria_engine,
        f"CREATE TABLE {other_db}.country (id INT PRIMARY KEY)",
        f"CREATE TABLE {region} (id INT PRIMARY KEY, country INT, CONSTRAINT {region}_fk "
        f"FOREIGN KEY (country) REFERENCES {other_db}.country (id) ON DELETE CASCADE)",
        f"CREATE TABLE {child} (id INT PRIMARY KEY, region INT, CONSTRAINT {child}_fk "
        f"FOREIGN KEY (region) REFERENCES {region} (id) ON DELETE CASCADE)",
        f"INSERT INTO {other_db}.country VALUES (1)",
        f"INSERT INTO {region} VALUES (5, 1), (6, 1)",
        f"INSERT INTO {child} VALUES (50, 5), (60, 6)",
    )
    warning = _the_warning(maria_engine, child, cl, caplog)
    assert f"the rows of '{region}' that its foreign key '{region}_fk' deletes" in warning
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {region} WHERE id = 5")  # covered: logged
        logged = conn.exec_driver_sql(f"SELECT row_key, op FROM {cl}").all()
    assert [tuple(r) for r in logged] == [("50", "D")]
