"""The change capture under the database roles of a real deployment.

The ERP's application writes as its own role; Tandem installs the capture as another, which
owns the change log and may create triggers on the ERP's tables. The ERP's role has no right
on the change log, yet its writes must neither fail nor go unlogged: on PostgreSQL the trigger
function runs with the rights of the change log's owner (``SECURITY DEFINER``, its
``search_path`` pinned); MariaDB runs every trigger with its definer's rights.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tandem.connectors.sql import install_capture


@pytest.fixture
def roles(pg_fresh_url: str) -> Iterator[tuple[str, str, sa.Engine]]:
    """Two login roles of this test (the ERP's application, Tandem), and a superuser engine."""
    suffix = uuid.uuid4().hex[:8]
    app, sync = f"erp_app_{suffix}", f"tandem_{suffix}"
    admin = sa.create_engine(pg_fresh_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for role in (app, sync):
            conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    try:
        yield app, sync, admin
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {app}, {sync} CASCADE")
            for role in (app, sync):
                conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def _as(url: str, role: str) -> sa.Engine:
    return sa.create_engine(sa.make_url(url).set(username=role))


@pytest.mark.postgres
def test_the_erps_own_role_writes_and_its_changes_are_logged(
    pg_fresh_url: str, roles: tuple[str, str, sa.Engine]
) -> None:
    app, sync, admin = roles
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {app}")
        conn.exec_driver_sql(f"GRANT SELECT, TRIGGER ON items TO {sync}")
        conn.exec_driver_sql(f"GRANT CREATE ON SCHEMA public TO {sync}")
        conn.exec_driver_sql("INSERT INTO items VALUES (1, 'seeded')")
    tandem, erp = _as(pg_fresh_url, sync), _as(pg_fresh_url, app)
    try:
        install_capture(tandem, [("items", "id")], changelog_table="cl")
        with erp.begin() as conn:
            conn.exec_driver_sql("INSERT INTO items VALUES (2, 'new')")
            conn.exec_driver_sql("UPDATE items SET name = 'renamed' WHERE id = 1")
            conn.exec_driver_sql("DELETE FROM items WHERE id = 2")
        with erp.connect() as conn, pytest.raises(sa.exc.ProgrammingError, match="permission"):
            conn.exec_driver_sql("SELECT * FROM cl")  # the ERP's role cannot reach the log
        with tandem.connect() as conn:
            logged = conn.exec_driver_sql("SELECT row_key, op FROM cl ORDER BY seq").all()
    finally:
        tandem.dispose()
        erp.dispose()
    assert [tuple(row) for row in logged] == [("1", "I"), ("2", "I"), ("1", "U"), ("2", "D")]


@pytest.mark.postgres
def test_a_writers_own_table_of_the_same_name_cannot_stand_in_for_the_log(
    pg_fresh_url: str, roles: tuple[str, str, sa.Engine]
) -> None:
    """A temporary table named as the change log, in the writer's session: the trigger still
    logs into Tandem's (its search_path is pinned, ``pg_temp`` last)."""
    app, sync, admin = roles
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON items TO {app}")
        conn.exec_driver_sql(
            f"GRANT TEMPORARY ON DATABASE {sa.make_url(pg_fresh_url).database} TO {app}"
        )
        conn.exec_driver_sql(f"GRANT SELECT, TRIGGER ON items TO {sync}")
        conn.exec_driver_sql(f"GRANT CREATE ON SCHEMA public TO {sync}")
    tandem, erp = _as(pg_fresh_url, sync), _as(pg_fresh_url, app)
    try:
        install_capture(tandem, [("items", "id")], changelog_table="cl")
        with erp.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TEMPORARY TABLE cl (seq BIGINT, table_name TEXT, row_key TEXT, op TEXT, "
                "changed_at TIMESTAMP, xid BIGINT)"
            )
            conn.exec_driver_sql("INSERT INTO items VALUES (7, 'x')")
            shadowed = conn.exec_driver_sql("SELECT count(*) FROM cl").scalar_one()
        with tandem.connect() as conn:
            logged = conn.exec_driver_sql("SELECT row_key, op FROM cl").all()
    finally:
        tandem.dispose()
        erp.dispose()
    assert shadowed == 0
    assert [tuple(row) for row in logged] == [("7", "I")]


@pytest.mark.mariadb
def test_mariadb_triggers_log_with_their_definers_rights(mariadb_fresh_url: str) -> None:
    """MariaDB runs a trigger with its definer's rights: the ERP's own account writes without
    any right on the change log, and its changes are logged."""
    app = f"erp_app_{uuid.uuid4().hex[:8]}"
    database = sa.make_url(mariadb_fresh_url).database
    admin = sa.create_engine(mariadb_fresh_url)
    with admin.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        conn.exec_driver_sql(f"CREATE USER '{app}'@'%%'")
        conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {database}.items TO '{app}'@'%%'"
        )
    erp = _as(mariadb_fresh_url, app)
    try:
        install_capture(admin, [("items", "id")], changelog_table="cl")
        with erp.begin() as conn:
            conn.exec_driver_sql("INSERT INTO items VALUES (1, 'new')")
            conn.exec_driver_sql("UPDATE items SET name = 'renamed' WHERE id = 1")
        with erp.connect() as conn, pytest.raises(sa.exc.DatabaseError, match="denied"):
            conn.exec_driver_sql("SELECT * FROM cl")
        with admin.connect() as conn:
            logged = conn.exec_driver_sql("SELECT row_key, op FROM cl ORDER BY seq").all()
    finally:
        erp.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP USER '{app}'@'%%'")
        admin.dispose()
    assert [tuple(row) for row in logged] == [("1", "I"), ("1", "U")]
