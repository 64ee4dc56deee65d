"""Late commits: a write transaction held open while later ones commit and are read.

Its change-log entry is stamped when its UPDATE runs, before the entries read meanwhile, and
becomes visible only at its commit, behind the cursor. Every read here resumes exactly at the
cursor reached (no overlap window), so only the connector's hold on open transactions
(:mod:`tandem.connectors.sql.late`) can return it: on PostgreSQL by the snapshot an earlier
read noted, on MariaDB by the start of the oldest write transaction it saw open.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import mariadb_server
import pytest
import sqlalchemy as sa
from sqlerp import Erp, changes_after, customer

from tandem.connectors.base import Change, Cursor
from tandem.connectors.sql import SqlConnector, SqlSettings, late, prune_changelog
from tandem.connectors.sql.late import NO_PROCESS

OS_ZONE = "Asia/Tokyo"
"""The operating-system time zone of the private MariaDB server: east of UTC all year."""


@pytest.fixture(scope="module")
def mariadb_os_zone_url() -> Iterator[str]:
    """A database on a MariaDB server of this module's own whose operating system's clock is
    in :data:`OS_ZONE` (the shared server's is in UTC): ``INNODB_TRX.trx_started`` is that
    zone's wall time, whatever the session's ``time_zone``."""
    with mariadb_server.private_server(OS_ZONE) as admin_url:
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("CREATE DATABASE tandem_test"))
        admin.dispose()
        yield sa.engine.make_url(admin_url).set(database="tandem_test").render_as_string()


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
        pytest.param("mariadb_os_zone", marks=pytest.mark.mariadb),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """The session's PostgreSQL or MariaDB database (SQLite has one writer at a time); for
    ``postgresql_2pc`` one on a server that allows prepared transactions; for
    ``mariadb_os_zone`` one on a MariaDB server whose operating system is not in UTC."""
    fixture = {
        "postgresql": "pg_url",
        "mariadb": "mariadb_url",
        "mariadb_os_zone": "mariadb_os_zone_url",
        "postgresql_2pc": "pg_2pc_url",
    }
    return str(request.getfixturevalue(fixture[request.param]))


class Open:
    """A second ERP connection with a write transaction the test holds open."""

    def __init__(self, erp: Erp, key: int, name: str) -> None:
        self.conn = erp.engine.connect()
        self.conn.execute(
            sa.update(erp.customers).where(erp.customers.c.id == key).values(name=name)
        )

    def commit(self) -> None:
        self.conn.commit()
        self.conn.close()


@pytest.fixture
def held(erp: Erp) -> Iterator[list[Open]]:
    opened: list[Open] = []
    yield opened
    for one in opened:
        one.conn.close()


def _rename(erp: Erp, key: int, name: str) -> None:
    erp.execute(sa.update(erp.customers).where(erp.customers.c.id == key).values(name=name))


def _names(changes: list[Change], since: Cursor | None = None) -> dict[str, object]:
    """Key -> name of the changes (past ``since`` only, when given).

    On MariaDB a read held back for an open transaction also returns the changes between the
    transaction's start and ``since`` again (as they are now: the pipeline skips them).
    """
    return {c.key: c.fields["name"] for c in changes if since is None or c.cursor > since}


async def _read(conn: SqlConnector, erp: Erp, since: Cursor | None) -> tuple[list[Change], Cursor]:
    """The changes after ``since``, and the cursor the pipeline would keep (their maximum)."""
    changes = await changes_after(conn, erp.binding(), since)
    cursor = max((c.cursor for c in changes), default=since)
    assert cursor is not None
    return changes, cursor


async def test_a_long_transaction_arrives_after_several_reads(erp: Erp, held: list[Open]) -> None:
    a, b, c = erp.insert(customer("Alfa"), customer("Beta"), customer("Gamma"))
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        _, start = await _read(conn, erp, None)
        held.append(Open(erp, a, "Alfa late"))
        _rename(erp, b, "Beta 2")
        first, cursor = await _read(conn, erp, start)
        assert _names(first, start) == {str(b): "Beta 2"}
        assert _names(first).get(str(a)) != "Alfa late"  # not committed yet
        _rename(erp, c, "Gamma 2")
        second, passed = await _read(conn, erp, cursor)
        assert _names(second, cursor) == {str(c): "Gamma 2"}
        assert _names(second).get(str(a)) != "Alfa late"
        held[0].commit()
        third, _ = await _read(conn, erp, passed)
    finally:
        await conn.close()
    assert _names(third, passed) == {}
    late = [change for change in third if change.key == str(a)]
    assert [change.fields["name"] for change in late] == ["Alfa late"]
    assert late[0].cursor < passed  # stamped behind the cursor: a late commit


def _until_entries_are_older_than_stale(erp: Erp) -> None:
    """Wait until the change log's newest entry is more than ``late.STALE`` seconds old on the
    server's clock: a read then no longer holds itself back for ``INNODB_TRX``'s lag, only for
    the transactions that table shows."""
    newest = f"SELECT MAX(changed_at) FROM {erp.changelog}"
    with erp.engine.connect() as db:
        while True:
            now = db.exec_driver_sql(f"SELECT {_SERVER_NOW[erp.dialect]}").scalar_one()
            if now - db.exec_driver_sql(newest).scalar_one() > timedelta(seconds=late.STALE):
                return
            db.rollback()
            time.sleep(0.1)


_SERVER_NOW = {
    "postgresql": "clock_timestamp() AT TIME ZONE 'UTC'",
    "mariadb": "UTC_TIMESTAMP(6)",
    "mysql": "UTC_TIMESTAMP(6)",
}


async def test_a_long_transaction_older_than_the_lag_allowance_arrives(
    erp: Erp, held: list[Open]
) -> None:
    """The read that passes the long transaction's entry sees it open only in
    ``INNODB_TRX`` (its entries are older than the lag allowance): the start noted there must
    be a UTC time whatever the zone of the server's operating system (``trx_started`` is
    that zone's wall time)."""
    a, b = erp.insert(customer("Alfa"), customer("Beta"))
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        _, start = await _read(conn, erp, None)
        held.append(Open(erp, a, "Alfa late"))
        _rename(erp, b, "Beta 2")
        _until_entries_are_older_than_stale(erp)
        first, cursor = await _read(conn, erp, start)
        assert _names(first, start) == {str(b): "Beta 2"}
        held[0].commit()
        second, _ = await _read(conn, erp, cursor)
    finally:
        await conn.close()
    assert _names(second).get(str(a)) == "Alfa late"


async def test_a_long_transaction_arrives_in_a_new_process(erp: Erp, held: list[Open]) -> None:
    a, b = erp.insert(customer("Alfa"), customer("Beta"))
    erp.install()
    first_process = SqlConnector(erp.settings())
    await first_process.open()
    try:
        _, cursor = await _read(first_process, erp, None)
        held.append(Open(erp, a, "Alfa late"))
        _rename(erp, b, "Beta 2")
        read, cursor = await _read(first_process, erp, cursor)
        assert _names(read).get(str(a)) != "Alfa late"
    finally:
        await first_process.close()
    held[0].commit()
    _rename(erp, b, "Beta 3")
    second_process = SqlConnector(erp.settings())
    await second_process.open()
    try:
        read, _ = await _read(second_process, erp, cursor)
    finally:
        await second_process.close()
    assert _names(read, cursor) == {str(b): "Beta 3"}
    assert _names(read)[str(a)] == "Alfa late"


async def test_a_change_read_once_is_not_read_again_as_late(erp: Erp) -> None:
    """Committed before the read that returned it: never returned again as a late commit.

    (On MariaDB a read is held back while any write transaction on the server is open, and
    then returns earlier changes again, as they are now.)
    """
    (a,) = erp.insert(customer("Alfa"))
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        _, cursor = await _read(conn, erp, None)
        _rename(erp, a, "Alfa 2")
        read, cursor = await _read(conn, erp, cursor)
        again, _ = await _read(conn, erp, cursor)
    finally:
        await conn.close()
    assert _names(read, cursor) == {} and _names(read) == {str(a): "Alfa 2"}
    if erp.dialect == "postgresql":
        assert again == []
    else:
        assert _names(again, cursor) == {} and set(_names(again).values()) <= {"Alfa 2"}


def _reads(erp: Erp) -> int:
    with erp.engine.connect() as db:
        return int(db.exec_driver_sql(f"SELECT COUNT(*) FROM {erp.changelog}_reads").scalar_one())


async def test_prune_drops_the_reads_noted_before_its_time(erp: Erp, held: list[Open]) -> None:
    (a,) = erp.insert(customer("Alfa"))
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        held.append(Open(erp, a, "Alfa late"))
        await _read(conn, erp, None)  # a write transaction in flight: the read is noted
        held[0].commit()
        noted = _reads(erp)
        later = datetime.now(UTC) + timedelta(days=1)
        pruned = prune_changelog(erp.engine, later, changelog_table=erp.changelog)
    finally:
        await conn.close()
    assert noted == 1
    assert pruned == 2  # Alfa's seed and update
    assert _reads(erp) == 0


# -- a transaction that ends while a read takes its horizon ----------------------------------

_RACING = "/* a horizon racing a commit */"


def _racing(sql: str, xid: int) -> str:
    """``late._PG`` as it runs when ``xid`` commits during it.

    Its snapshot is the one taken just after ``xid`` wrote, with no later transaction
    completed: ``xid`` is in flight at the snapshot's ``xmax``, so not listed in it (the real
    snapshot depends on every other session of the server). Its scan of ``pg_stat_activity``
    runs after ``xid`` committed, so it sees no transaction in flight either.
    """
    snapshot, scan = "pg_current_snapshot() AS snap", "FROM pg_stat_activity WHERE"
    assert snapshot in sql and scan in sql
    sql = sql.replace(snapshot, f"CAST('{xid}:{xid}:' AS pg_snapshot) AS snap")
    return _RACING + sql.replace(scan, f"{scan} false AND")


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_commit_between_a_reads_snapshot_and_its_scan_loses_nothing(
    erp: Erp, held: list[Open], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read's snapshot could not see the transaction and its scan found it ended, so the
    snapshot is not noted; nothing is lost by it. The read's own batches run after the commit
    and return the entry; had the entry lain behind the read's ``since``, the read that reached
    ``since`` ran while the transaction was open (its ``backend_xid`` showed) and was noted.
    """
    (a,) = erp.insert(customer("Alfa"))
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    committed: list[bool] = []

    def commit_after_the_horizon(*args: object) -> None:
        statement = args[2]
        if isinstance(statement, str) and statement.startswith(_RACING) and not committed:
            committed.append(True)
            held[0].commit()

    try:
        _, start = await _read(conn, erp, None)
        held.append(Open(erp, a, "Alfa late"))
        current = "SELECT CAST(CAST(pg_current_xact_id() AS text) AS bigint)"
        xid = int(held[0].conn.exec_driver_sql(current).scalar_one())
        monkeypatch.setattr(late, "_PG", _racing(late._PG, xid))
        sa.event.listen(sa.Engine, "after_cursor_execute", commit_after_the_horizon)
        try:
            read, cursor = await _read(conn, erp, start)
        finally:
            sa.event.remove(sa.Engine, "after_cursor_execute", commit_after_the_horizon)
            monkeypatch.undo()
        again, _ = await _read(conn, erp, cursor)
    finally:
        await conn.close()
    assert committed == [True]
    assert _names(read) == {str(a): "Alfa late"}
    assert again == []  # read once, as any change


# -- a prepared (two-phase) transaction --------------------------------------------------------


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql_2pc", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_prepared_transaction_unseen_by_a_read_arrives_after_its_commit(
    erp: Erp,
) -> None:
    """A prepared transaction has no session (no ``pg_stat_activity.backend_xid``), and one
    whose id is past every completed one is not listed in a snapshot either: the read must note
    its snapshot for it, or a later read would never return what it wrote behind the cursor.

    U takes its id before T, and commits an entry stamped after T's while T stays prepared:
    the read then reaches past T's entry without seeing it. (The server's autovacuum is off,
    so no other transaction completes in between and lists T.)
    """
    a, b = erp.insert(customer("Alfa"), customer("Beta"))
    erp.install()
    conn = SqlConnector(erp.settings())
    await conn.open()
    u = erp.engine.connect()
    t = erp.engine.connect()
    gid = f"tandem_{erp.changelog}"
    try:
        _, start = await _read(conn, erp, None)
        u.exec_driver_sql("SELECT pg_current_xact_id()")  # U's id: before T's
        t.execute(sa.update(erp.customers).where(erp.customers.c.id == a).values(name="Alfa late"))
        t_xid = int(t.exec_driver_sql(_XID).scalar_one())
        t.exec_driver_sql(f"PREPARE TRANSACTION '{gid}'")
        t.commit()  # the session's part ends: T now waits, prepared, without a session
        u.execute(sa.update(erp.customers).where(erp.customers.c.id == b).values(name="Beta 2"))
        u.commit()
        with erp.engine.connect() as look:
            xmax = int(look.exec_driver_sql(_XMAX).scalar_one())
        assert xmax <= t_xid  # T is in flight, yet not listed: past the snapshot's xmax
        read, cursor = await _read(conn, erp, start)
        assert _names(read, start) == {str(b): "Beta 2"}  # T's entry is behind this cursor
        _outside_a_transaction(erp, f"COMMIT PREPARED '{gid}'")
        after, _ = await _read(conn, erp, cursor)
    finally:
        t.close()
        with contextlib.suppress(sa.exc.DBAPIError):  # the test failed before its commit
            _outside_a_transaction(erp, f"ROLLBACK PREPARED '{gid}'")
        u.close()
        await conn.close()
    late = [change for change in after if change.key == str(a)]
    assert [change.fields["name"] for change in late] == ["Alfa late"]
    assert late[0].cursor < cursor  # stamped behind the cursor: a late commit


def _outside_a_transaction(erp: Erp, statement: str) -> None:
    with erp.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(statement)


_XID = "SELECT CAST(CAST(pg_current_xact_id() AS text) AS bigint)"
_XMAX = "SELECT CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS text) AS bigint)"


# -- an installation of an earlier release ----------------------------------------------------


def _downgrade(erp: Erp) -> None:
    """Make the change log the one an earlier release installed (no xid, no reads table)."""
    with erp.engine.begin() as db:
        if erp.dialect == "postgresql":
            db.exec_driver_sql(f"ALTER TABLE {erp.changelog} DROP COLUMN xid")
        db.exec_driver_sql(f"DROP TABLE {erp.changelog}_reads")


def _columns(erp: Erp) -> list[str]:
    return [c["name"] for c in sa.inspect(erp.engine).get_columns(erp.changelog)]


async def test_install_capture_upgrades_a_change_log_of_an_earlier_release(
    erp: Erp, held: list[Open], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = erp.insert(customer("Alfa"), customer("Beta"))
    erp.install()
    _downgrade(erp)
    old = SqlConnector(erp.settings())
    with caplog.at_level(logging.WARNING):
        await old.open()
    try:
        assert "install-capture" in caplog.text
        [advice] = await old.advice()  # what `tandem check` shows
        assert "earlier release" in advice and "tandem erp install-capture" in advice
        _, cursor = await _read(old, erp, None)  # read as before
    finally:
        await old.close()
    _rename(erp, b, "Beta 2")  # logged by the earlier release's change log
    erp.install()
    erp.install()  # again: changes nothing
    columns = _columns(erp)
    assert columns.count("xid") == (1 if erp.dialect == "postgresql" else 0)
    conn = SqlConnector(erp.settings())
    await conn.open()
    try:
        assert await conn.advice() == []  # upgraded, and the test's user may read it all
        read, cursor = await _read(conn, erp, cursor)
        assert _names(read) == {str(b): "Beta 2"}  # an entry without xid reads as before
        held.append(Open(erp, a, "Alfa late"))
        _rename(erp, b, "Beta 3")
        read, cursor = await _read(conn, erp, cursor)
        assert _names(read).get(str(a)) != "Alfa late"
        assert _names(read)[str(b)] == "Beta 3"
        held[0].commit()
        read, _ = await _read(conn, erp, cursor)
    finally:
        await conn.close()
    assert _names(read)[str(a)] == "Alfa late"


# -- MariaDB without the PROCESS privilege ------------------------------------------------------


@pytest.fixture
def no_process_url(erp: Erp) -> Iterator[str]:
    """A MariaDB user with every privilege on the test's database, but not PROCESS."""
    user = f"np_{uuid.uuid4().hex[:8]}"
    database = erp.engine.url.database
    with erp.engine.begin() as db:
        db.exec_driver_sql(f"CREATE USER '{user}'@'%%' IDENTIFIED BY 'np-secret'")
        db.exec_driver_sql(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%%'")
    try:
        yield erp.engine.url.set(username=user, password="np-secret").render_as_string(
            hide_password=False
        )
    finally:
        with erp.engine.begin() as db:
            db.exec_driver_sql(f"DROP USER '{user}'@'%%'")


@pytest.mark.parametrize(
    "db_url", [pytest.param("mariadb", marks=pytest.mark.mariadb)], indirect=True
)
async def test_mariadb_without_process_privilege_warns_once_and_reads_as_before(
    erp: Erp, no_process_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = erp.insert(customer("Alfa"), customer("Beta"))
    erp.install()
    engine = sa.create_engine(no_process_url)
    try:
        with engine.connect() as db, pytest.raises(sa.exc.DBAPIError) as refused:
            db.exec_driver_sql("SELECT COUNT(*) FROM information_schema.INNODB_TRX").all()
        assert refused.value.orig is not None and refused.value.orig.args[0] == NO_PROCESS
    finally:
        engine.dispose()
    settings = SqlSettings(
        url=no_process_url, changelog_table=erp.changelog, notify_channel=erp.channel
    )
    conn = SqlConnector(settings)
    await conn.open()
    try:
        [advice] = await conn.advice()  # what `tandem check` shows
        assert "GRANT PROCESS" in advice and erp.changelog in advice
        with caplog.at_level(logging.WARNING):
            _, cursor = await _read(conn, erp, None)
            _rename(erp, a, "Alfa 2")
            read, cursor = await _read(conn, erp, cursor)
            _rename(erp, b, "Beta 2")
            again, _ = await _read(conn, erp, cursor)
    finally:
        await conn.close()
    assert _names(read) == {str(a): "Alfa 2"}
    assert _names(again) == {str(b): "Beta 2"}
    warnings = [r for r in caplog.records if "PROCESS" in r.getMessage()]
    assert len(warnings) == 1
