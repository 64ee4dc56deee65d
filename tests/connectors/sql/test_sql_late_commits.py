"""Late commits: a write transaction held open while later ones commit and are read.

Its change-log entry is stamped when its UPDATE runs, before the entries read meanwhile, and
becomes visible only at its commit, behind the cursor. Every read here resumes exactly at the
cursor reached (no overlap window), so only the connector's hold on open transactions
(:mod:`tandem.connectors.sql.late`) can return it: on PostgreSQL by the snapshot an earlier
read noted, on MariaDB by the start of the oldest write transaction it saw open.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlerp import Erp, changes_after, customer

from tandem.connectors.base import Change, Cursor
from tandem.connectors.sql import SqlConnector, SqlSettings, prune_changelog
from tandem.connectors.sql.late import NO_PROCESS


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def db_url(request: pytest.FixtureRequest) -> str:
    """The session's PostgreSQL or MariaDB database (SQLite has one writer at a time)."""
    return str(
        request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    )


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
