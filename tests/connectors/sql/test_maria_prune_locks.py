"""MariaDB: pruning the change log never holds up the ERP's own writes.

Before the fix the prune was one ``DELETE ... WHERE changed_at < :before`` in the server's
default ``REPEATABLE READ``: with no index that leads with ``changed_at`` it scans the whole
log and next-key locks every entry and the gap after the last, where each capture trigger
inserts. Every write of the ERP to a captured table then waited for the prune to commit, and
failed with ``Lock wait timeout exceeded`` (1205) when the prune of a long log took longer
than ``innodb_lock_wait_timeout``.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tandem.connectors.sql import install_capture, prune_changelog
from tandem.connectors.sql.capture import mysql

pytestmark = pytest.mark.mariadb


def _waiting(maria_engine: sa.Engine, cl: str) -> bool:
    """Whether the prune's delete of the notes of ``cl`` runs (waits for its lock) now."""
    sql = sa.text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE :stmt")
    with maria_engine.connect() as conn:
        return bool(conn.execute(sql, {"stmt": f"DELETE FROM {cl}_reads %"}).scalar_one())


def test_an_erp_write_goes_through_while_the_log_is_pruned(maria_engine: sa.Engine) -> None:
    t, cl = f"items_{uuid.uuid4().hex[:8]}", f"cl_{uuid.uuid4().hex[:8]}"
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {t} (id INT PRIMARY KEY, v INT)")
        conn.exec_driver_sql(f"INSERT INTO {t} VALUES (1, 0), (2, 0), (3, 0)")
    install_capture(maria_engine, [(t, "id")], changelog_table=cl)
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {cl} SET changed_at = '2020-01-01'")
        conn.exec_driver_sql(
            f"INSERT INTO {cl}_reads (taken_at, held_at) VALUES ('2020-01-01', '2020-01-01')"
        )
    # A reader's note held locked: the prune waits on it, its deletes of the log done.
    holder = maria_engine.connect()
    holder.exec_driver_sql(f"SELECT * FROM {cl}_reads FOR UPDATE").all()
    pruned: list[int] = []
    prune = threading.Thread(
        target=lambda: pruned.append(
            prune_changelog(maria_engine, _at("2021-01-01"), changelog_table=cl)
        )
    )
    prune.start()
    try:
        deadline = time.monotonic() + 30
        while not _waiting(maria_engine, cl) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _waiting(maria_engine, cl), "the prune never reached the held note"
        with maria_engine.connect() as erp:
            erp.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 3")
            erp.exec_driver_sql(f"UPDATE {t} SET v = 9 WHERE id = 2")  # failed: 1205
            erp.commit()
    finally:
        holder.rollback()
        holder.close()
        prune.join()
    assert pruned == [3]
    with maria_engine.connect() as conn:
        left = conn.exec_driver_sql(f"SELECT row_key, op FROM {cl}").all()
        notes = conn.exec_driver_sql(f"SELECT COUNT(*) FROM {cl}_reads").scalar_one()
    assert [tuple(r) for r in left] == [("2", "U")] and notes == 0


def test_a_long_log_is_pruned_in_chunks(
    maria_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk commits on its own; every old entry goes, and the count is the total."""
    monkeypatch.setattr(mysql, "PRUNE_CHUNK", 4)
    t, cl = f"items_{uuid.uuid4().hex[:8]}", f"cl_{uuid.uuid4().hex[:8]}"
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {t} (id INT PRIMARY KEY, v INT)")
        values = ", ".join(f"({i}, 0)" for i in range(1, 11))
        conn.exec_driver_sql(f"INSERT INTO {t} VALUES {values}")
    install_capture(maria_engine, [(t, "id")], changelog_table=cl)
    with maria_engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {cl} SET changed_at = '2020-01-01' WHERE row_key <> '7'")
    assert prune_changelog(maria_engine, _at("2021-01-01"), changelog_table=cl) == 9
    with maria_engine.connect() as conn:
        left = conn.exec_driver_sql(f"SELECT row_key FROM {cl}").scalars().all()
    assert left == ["7"]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
