"""The look for keys that several rows share (``tandem check``) is bounded in time.

The look is a ``GROUP BY key HAVING COUNT(*) > 1`` over a column with no unique index: on a
large table it could take long, so the server cuts it short after a bound and the finding
says the look was given up (the CLI tests cover the findings themselves).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql.keys import _bounded, _cut_short, audit_key
from tandem.connectors.sql.settings import SqlSettings, create_engine
from tandem.connectors.sql.source import resolve

SLOW = {  # a statement that runs for seconds unless cut short
    "postgresql": "SELECT pg_sleep(3)",
    "mariadb": "SELECT SLEEP(3)",
    "mysql": "SELECT SLEEP(3)",
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
    "WHERE i < 100000000) SELECT count(*) FROM n",
}


def test_the_bound_cuts_a_long_statement_short_on_every_database(db_url: str) -> None:
    engine = create_engine(SqlSettings(url=db_url))
    try:
        with engine.connect() as conn:
            cut: sa.exc.DBAPIError | None = None
            try:
                with _bounded(conn, 0.05):
                    conn.exec_driver_sql(SLOW[conn.dialect.name]).all()
            except sa.exc.DBAPIError as exc:
                cut = exc
            finally:
                conn.rollback()
            assert cut is not None and _cut_short(cut), cut
            # the bound ends with the look: the connection's next statement runs in full
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_a_look_that_takes_too_long_is_given_up_and_said_so(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/big.db"
    engine = create_engine(SqlSettings(url=url))
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, code TEXT NOT NULL)")
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)"
                " INSERT INTO items (code) SELECT 'C' || (i % 40000) FROM n"
            )
        binding = EntityBinding(name="item", source="items", key="code", fields=())
        with engine.connect() as conn:
            src = resolve(conn, binding, None)
            (given_up,) = audit_key(conn, src, seconds=0)
            (found,) = audit_key(conn, src)
        assert not given_up.error and given_up.setting == "key"
        assert "key column 'code'" in given_up.message
        assert "whether rows share a key now was not looked up" in given_up.message
        assert found.error and "'C1' (2 rows)" in found.message and ", and more;" in found.message
    finally:
        engine.dispose()
