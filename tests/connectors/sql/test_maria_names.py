"""MariaDB: captured tables whatever their names.

Before the fix the triggers and the seed wrote the table's name into the change log as a
string literal with only its quotes doubled; MariaDB reads a backslash in a literal as an
escape, so the entries of a table named ``erp\\table`` were logged for ``erp<TAB>able`` and
no read of the table ever found one: every change was lost without a word. Reserved words,
spaces, mixed case, a backtick and a table in another database than the connection's were
probed along with it and are kept here.
"""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlerp import changes_after

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, capture_status, install_capture

pytestmark = pytest.mark.mariadb


@pytest.mark.parametrize(
    ("table", "key", "field"),
    [
        ("erp\\table", "id", "v"),
        ("tail\\", "id", "v"),
        ("order", "key", "group"),
        ("Mixed Case`Name", "Id Col", "My Field"),
        ("it's", "id", "v"),
    ],
)
async def test_every_change_of_a_table_is_read_whatever_its_name(
    maria_engine: sa.Engine, mariadb_url: str, table: str, key: str, field: str
) -> None:
    q = maria_engine.dialect.identifier_preparer.quote
    cl = f"cl_{uuid.uuid4().hex[:8]}"
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {q(table)} ({q(key)} INT PRIMARY KEY, {q(field)} INT)")
        conn.exec_driver_sql(f"INSERT INTO {q(table)} VALUES (1, 1), (2, 2)")
    install_capture(maria_engine, [(table, key)], changelog_table=cl)
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {q(table)} SET {q(field)} = 9 WHERE {q(key)} = 1")
        conn.exec_driver_sql(f"DELETE FROM {q(table)} WHERE {q(key)} = 2")
        conn.exec_driver_sql(f"INSERT INTO {q(table)} VALUES (3, 3)")
    conn = SqlConnector(SqlSettings(url=mariadb_url, changelog_table=cl))
    await conn.open()
    try:
        binding = EntityBinding(name="t", source=table, key=key, fields=(field,))
        changes = await changes_after(conn, binding, None)
    finally:
        await conn.close()
    assert {c.key: (c.deleted, c.fields) for c in changes} == {
        "1": (False, {field: 9}),
        "2": (True, {}),
        "3": (False, {field: 3}),
    }
    assert capture_status(maria_engine, [table], changelog_table=cl).tables == {table: True}


async def test_a_table_in_another_database(maria_engine: sa.Engine, mariadb_url: str) -> None:
    other = f"tandem_other_{uuid.uuid4().hex[:8]}"
    cl = f"cl_{uuid.uuid4().hex[:8]}"
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {other}")
    try:
        with maria_engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE TABLE {other}.far (id INT PRIMARY KEY, v INT)")
            conn.exec_driver_sql(f"INSERT INTO {other}.far VALUES (1, 1)")
        settings = SqlSettings(url=mariadb_url, changelog_table=cl, schema=other)
        install_capture(settings, [("far", "id")])
        with maria_engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE {other}.far SET v = 2")
            conn.exec_driver_sql(f"INSERT INTO {other}.far VALUES (2, 2)")
        conn = SqlConnector(settings)
        await conn.open()
        try:
            binding = EntityBinding(name="far", source="far", key="id", fields=("v",))
            changes = await changes_after(conn, binding, None)
        finally:
            await conn.close()
        assert {c.key: c.fields for c in changes} == {"1": {"v": 2}, "2": {"v": 2}}
        with maria_engine.connect() as db:
            logged = db.exec_driver_sql(f"SELECT COUNT(*) FROM {other}.{cl}").scalar_one()
            assert logged == 3  # the log lives next to the table, not in the default database
    finally:
        with maria_engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {other}")
