"""MariaDB: rows that a foreign key's action deletes or changes fire no trigger.

InnoDB runs ``ON DELETE CASCADE``, ``ON DELETE SET NULL`` and ``ON UPDATE CASCADE`` itself,
below the triggers: a contact deleted because its customer was deletes without a change-log
entry, and its record would be left in the CRM. ``install-capture`` first only named each such
foreign key in a warning; now a trigger on the parent logs those rows
(``test_maria_cascade_capture``, which also covers the warning for what stays uncovered).
"""

from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa

from tandem.connectors.sql import install_capture

pytestmark = pytest.mark.mariadb

CASCADES = "tandem.connectors.sql.capture.mysql"


def _tables(maria_engine: sa.Engine, action: str) -> tuple[str, str]:
    parent, child = f"cust_{uuid.uuid4().hex[:8]}", f"cont_{uuid.uuid4().hex[:8]}"
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {parent} (id INT PRIMARY KEY, name VARCHAR(20))")
        conn.exec_driver_sql(
            f"CREATE TABLE {child} (id INT PRIMARY KEY, cust INT, "
            f"CONSTRAINT {child}_fk FOREIGN KEY (cust) REFERENCES {parent} (id) {action})"
        )
        conn.exec_driver_sql(f"INSERT INTO {parent} VALUES (1, 'a')")
        conn.exec_driver_sql(f"INSERT INTO {child} VALUES (10, 1), (11, 1)")
    return parent, child


def test_a_cascaded_delete_is_logged(maria_engine: sa.Engine) -> None:
    """The contacts' deletes are logged with their customer's."""
    parent, child = _tables(maria_engine, "ON DELETE CASCADE")
    cl = f"cl_{uuid.uuid4().hex[:8]}"
    install_capture(maria_engine, [(parent, "id"), (child, "id")], changelog_table=cl, seed=False)
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM {parent} WHERE id = 1")
    with maria_engine.connect() as conn:
        logged = conn.exec_driver_sql(f"SELECT table_name, row_key, op FROM {cl}").all()
        left = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {child}").scalar_one()
    assert sorted(tuple(r) for r in logged) == sorted(
        [(parent, "1", "D"), (child, "10", "D"), (child, "11", "D")]
    )
    assert left == 0


def test_install_says_nothing_of_a_foreign_key_without_an_action(
    maria_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    parent, child = _tables(maria_engine, "ON DELETE RESTRICT")
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        install_capture(
            maria_engine,
            [(parent, "id"), (child, "id")],
            changelog_table=f"cl_{uuid.uuid4().hex[:8]}",
        )
    assert [r for r in caplog.records if r.name == CASCADES] == []
