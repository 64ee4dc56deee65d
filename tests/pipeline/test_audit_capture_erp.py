"""Audit: ERP change capture under concurrency, against real PostgreSQL and MariaDB.

Each test drives `Engine.sync()` passes between a real ERP database (with the trigger-fed
change log) and the HTTPS Salesforce sandbox, and checks what arrives in the CRM. Concurrent
ERP writers are real second connections whose transactions are held open explicitly; no test
waits on the clock.

A "late commit" is a transaction whose change-log entry was stamped (by the trigger, at the
time of its UPDATE) before another transaction's entry that committed, and was read, first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from audit_kit import Writer, age_log, open_writer
from tandem_env import Env

import tandem.pipeline.engine as engine_module
import tandem.pipeline.windows as windows_module
from tandem.config import load_flow
from tandem.connectors.sql.capture import install_capture
from tandem.pipeline.runtime import running_engine


def _phone(env: Env, customer: int) -> object:
    rows = env.crm_rows(f"SELECT Phone FROM Account WHERE ERP_Id__c = '{customer}'")
    assert len(rows) == 1, rows
    return rows[0]["Phone"]


def _accounts(env: Env, customer: int) -> list[dict[str, object]]:
    return env.crm_rows(f"SELECT Id, Name, Phone FROM Account WHERE ERP_Id__c = '{customer}'")


# -- the classic late commit ------------------------------------------------------------------


async def test_late_commit_within_the_overlap_arrives(db_env: Env, writers: list[Writer]) -> None:
    """T1 writes first and commits last, after T2 was committed and read by a pass.

    T1 is held open across a whole pass. Its entry is stamped before T2's, so the cursor
    moves past it while it is invisible; the overlap window re-reads it next pass.
    """
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        age_log(env)
        t1 = open_writer(env, writers)
        t1.run("UPDATE customers SET phone = '+48 100 000 001' WHERE id = 2")
        env.erp("UPDATE customers SET phone = '+48 100 000 002' WHERE id = 3")  # T2, committed
        during = await engine.sync()
        assert _phone(env, 3) == "+48 100 000 002"
        assert _phone(env, 2) != "+48 100 000 001"  # T1 not committed: invisible
        t1.commit()
        after = await engine.sync()
        settled = await engine.sync()
    assert _phone(env, 2) == "+48 100 000 001"
    assert during.total("updated") == 1 and after.total("updated") == 1
    assert settled.writes == 0


async def test_late_commit_of_a_transaction_longer_than_the_overlap_arrives(
    every_env: Env, writers: list[Writer]
) -> None:
    """An ERP transaction that runs its UPDATE, stays open while a later short transaction on
    another row commits and is synced, and commits after that (a long batch job, a user's
    editing session).

    ``overlap_seconds`` is 0 here, so the long transaction is longer than the overlap without
    the test waiting on the clock: the pass after its commit resumes exactly at the cursor,
    past the long transaction's entry. Its change must still reach the CRM. On SQLite the
    short transaction cannot commit while the long one holds the write lock (one writer at a
    time), so no entry can commit behind one already read there.
    """
    env = every_env
    sqlite = env.erp_url.startswith("sqlite")
    async with running_engine(env.flow(**{"overlap_seconds: 2": "overlap_seconds: 0"})) as engine:
        await engine.sync()
        if not sqlite:
            age_log(env)
        t1 = open_writer(env, writers)
        t1.run("UPDATE customers SET phone = '+48 200 000 001' WHERE id = 2")
        second = "UPDATE customers SET phone = '+48 200 000 002' WHERE id = 3"
        if sqlite:
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                _write_without_waiting(env.erp_url, second)
            await engine.sync()
            t1.commit()
            env.erp(second)
        else:
            env.erp(second)
            await engine.sync()
            assert _phone(env, 3) == "+48 200 000 002"
            assert _phone(env, 2) != "+48 200 000 001"  # T1 not committed: invisible
            t1.commit()
        await engine.sync()
        await engine.sync()
    assert _phone(env, 2) == "+48 200 000 001"
    assert _phone(env, 3) == "+48 200 000 002"


def _write_without_waiting(url: str, sql: str) -> None:
    """Run ``sql`` on SQLite in a transaction of its own, failing at once on a held lock."""
    engine = sa.create_engine(url, connect_args={"timeout": 0})
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


class _AheadClock(datetime):
    """``datetime`` whose ``now()`` runs 30 s ahead: the agent's clock, not the database's."""

    @classmethod
    def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
        return datetime.now(UTC) + timedelta(seconds=30)


async def test_late_commit_arrives_when_the_agents_clock_runs_ahead_of_the_database(
    db_env: Env, writers: list[Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The classic late commit (T1 held across one pass only), agent clock 30 s ahead.

    Lesson 10: skew between systems must be measured and covered. The change-log stamps
    are the database server's clock; the engine decides whether to re-read the overlap by
    its own.
    """
    env = db_env
    monkeypatch.setattr(engine_module, "datetime", _AheadClock)
    monkeypatch.setattr(windows_module, "datetime", _AheadClock)
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        age_log(env)
        t1 = open_writer(env, writers)
        t1.run("UPDATE customers SET phone = '+48 300 000 001' WHERE id = 2")
        env.erp("UPDATE customers SET phone = '+48 300 000 002' WHERE id = 3")
        await engine.sync()
        assert _phone(env, 3) == "+48 300 000 002"
        t1.commit()
        await engine.sync()
    assert _phone(env, 2) == "+48 300 000 001"


async def test_late_commit_arrives_when_the_agents_clock_is_in_step(
    db_env: Env, writers: list[Writer]
) -> None:
    """The control of the test above: the same steps without skew, across two idle passes."""
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        age_log(env)
        t1 = open_writer(env, writers)
        t1.run("UPDATE customers SET phone = '+48 310 000 001' WHERE id = 2")
        env.erp("UPDATE customers SET phone = '+48 310 000 002' WHERE id = 3")
        await engine.sync()
        await engine.sync()  # an idle pass while T1 is still open
        t1.commit()
        await engine.sync()
    assert _phone(env, 2) == "+48 310 000 001"


async def test_two_late_transactions_interleaved_on_one_row_and_others(
    db_env: Env, writers: list[Writer]
) -> None:
    """T1 writes rows 2 and 4, T2 row 3; T1 commits after a pass; then T3 waits on T1's row.

    T3's UPDATE of row 2 blocks on T1's row lock, so it is run after T1 commits; the final
    state of row 2 is T3's, and every row arrives.
    """
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        age_log(env)
        t1 = open_writer(env, writers)
        t1.run("UPDATE customers SET phone = '+48 400 000 021' WHERE id = 2")
        t1.run("UPDATE customers SET phone = '+48 400 000 041' WHERE id = 4")
        env.erp("UPDATE customers SET phone = '+48 400 000 031' WHERE id = 3")
        await engine.sync()
        t1.commit()
        env.erp("UPDATE customers SET phone = '+48 400 000 022' WHERE id = 2")
        await engine.sync()
        settled = await engine.sync()
    assert _phone(env, 2) == "+48 400 000 022"
    assert _phone(env, 3) == "+48 400 000 031"
    assert _phone(env, 4) == "+48 400 000 041"
    assert settled.writes == 0


# -- several entries of one row ---------------------------------------------------------------


async def test_many_changes_to_one_row_within_one_pass_split_across_batches(
    every_env: Env,
) -> None:
    """Row 2 changes 7 times among changes to 10 other rows, read in batches of 3.

    Its entries land in several batches, each joined to the row as it is now: the CRM ends
    with the last value, every other row arrives, and nothing is written again afterwards.
    """
    env = every_env
    flow = env.flow(**{"batch_size: 200": "batch_size: 3"})
    async with running_engine(flow) as engine:
        await engine.sync()
        for n in range(7):
            env.erp(f"UPDATE customers SET phone = '+48 500 000 00{n}' WHERE id = 2")
            env.erp(f"UPDATE customers SET city = 'Town {n}' WHERE id = {3 + n}")
        for n in range(3):
            env.erp(f"UPDATE customers SET city = 'Town x{n}' WHERE id = {14 + n}")
        report = await engine.sync()
        settled = await engine.sync()
    assert _phone(env, 2) == "+48 500 000 006"
    cities = {
        str(a["ERP_Id__c"]): a["BillingCity"]
        for a in env.crm_rows("SELECT ERP_Id__c, BillingCity FROM Account")
    }
    assert [cities[str(3 + n)] for n in range(7)] == [f"Town {n}" for n in range(7)]
    assert [cities[str(14 + n)] for n in range(3)] == [f"Town x{n}" for n in range(3)]
    assert report.total("updated") == 11
    assert settled.writes == 0


async def test_many_changes_to_one_row_in_one_transaction(db_env: Env) -> None:
    """One transaction updates a row 50 times (50 entries sharing a transaction)."""
    env = db_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        statements = "; ".join(
            f"UPDATE customers SET phone = '+48 510 000 {n:03d}' WHERE id = 5" for n in range(50)
        )
        engine_ = sa.create_engine(env.erp_url)
        try:
            with engine_.begin() as conn:
                for statement in statements.split("; "):
                    conn.execute(sa.text(statement))
        finally:
            engine_.dispose()
        report = await engine.sync()
        settled = await engine.sync()
    assert _phone(env, 5) == "+48 510 000 049"
    assert report.total("updated") == 1
    assert settled.writes == 0


# -- update, delete, insert again --------------------------------------------------------------


def _new_customer(env: Env, key: int, name: str) -> None:
    env.erp(
        "INSERT INTO customers (id, number, name, nip, city, country_code) "
        "VALUES (:id, :number, :name, '5260250274', 'Warszawa', 'PL')",
        id=key,
        number=f"C-9{key:04d}",
        name=name,
    )


async def test_row_updated_deleted_and_inserted_again_between_passes(every_env: Env) -> None:
    """Between two passes customer 90 is renamed, deleted and inserted again under its key.

    The CRM keeps one account for ERP key 90, holding the values of the row as it is now.
    """
    env = every_env
    async with running_engine(env.flow()) as engine:
        _new_customer(env, 90, "Before 90")
        await engine.sync()
        [account] = _accounts(env, 90)
        env.erp("UPDATE customers SET name = 'Renamed 90' WHERE id = 90")
        env.erp("DELETE FROM customers WHERE id = 90")
        _new_customer(env, 90, "Again 90")
        await engine.sync()
        settled = await engine.sync()
    live = _accounts(env, 90)
    assert [a["Name"] for a in live] == ["Again 90"]
    assert live[0]["Id"] == account["Id"]
    assert settled.writes == 0


async def test_row_deleted_in_one_pass_then_inserted_again(every_env: Env) -> None:
    """Customer 91's delete is synced (the account goes), then the key is used again."""
    env = every_env
    async with running_engine(env.flow()) as engine:
        _new_customer(env, 91, "First 91")
        await engine.sync()
        env.erp("DELETE FROM customers WHERE id = 91")
        deleted = await engine.sync()
        assert _accounts(env, 91) == []
        _new_customer(env, 91, "Second 91")
        await engine.sync()
        settled = await engine.sync()
    assert deleted.total("deleted") == 1
    assert [a["Name"] for a in _accounts(env, 91)] == ["Second 91"]
    assert settled.writes == 0


# -- entries that name no row -----------------------------------------------------------------


def _log_entry(env: Env, key: str, op: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    env.erp(
        "INSERT INTO tandem_changelog (table_name, row_key, op, changed_at) "
        "VALUES ('customers', :key, :op, :at)",
        key=key,
        op=op,
        at=now,
    )


async def test_entries_whose_row_does_not_exist(every_env: Env) -> None:
    """Entries naming keys with no row (never existed, not a number) change nothing."""
    env = every_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        before = len(env.crm_rows("SELECT Id FROM Account"))
        for key in ("777", "not-a-number"):
            _log_entry(env, key, "U")
        env.erp("UPDATE customers SET phone = '+48 600 000 001' WHERE id = 6")
        report = await engine.sync()
        settled = await engine.sync()
    assert len(env.crm_rows("SELECT Id FROM Account")) == before
    assert _phone(env, 6) == "+48 600 000 001"
    assert report.total("updated") == 1 and report.total("deleted") == 0
    assert settled.writes == 0


async def test_update_entry_of_a_synced_row_that_is_gone(every_env: Env) -> None:
    """A synced row vanished without its delete being logged (say, the D entry pruned).

    A later entry of its key is joined to no row: it reads as a delete and follows the
    entity's policy (customers: the account is deleted in the CRM), once.
    """
    env = every_env
    async with running_engine(env.flow()) as engine:
        _new_customer(env, 92, "Gone 92")
        await engine.sync()
        assert len(_accounts(env, 92)) == 1
        env.erp("DELETE FROM customers WHERE id = 92")
        env.erp("DELETE FROM tandem_changelog WHERE table_name = 'customers' AND row_key = '92'")
        _log_entry(env, "92", "U")
        report = await engine.sync()
        settled = await engine.sync()
    assert _accounts(env, 92) == []
    assert report.total("deleted") == 1
    assert settled.writes == 0


# -- a text key that is the empty string -------------------------------------------------------

TEXT_KEY_FLOW = """\
version: 1
name: audit_text_key
state: sqlite:///{state}
connections:
  erp: {{type: sql, url: "{erp_url}"}}
  crm:
    type: salesforce
    instance_url: {base_url}
    login_url: {base_url}
    ca_file: {ca_file}
    auth_flow: password
    username: {username}
    client_id: {client_id}
    password: {{file: {folder}/secrets/sf_password}}
    client_secret: {{file: {folder}/secrets/sf_client_secret}}
defaults:
  overlap_seconds: 2
entities:
  category:
    model: product_category
    direction: erp_to_crm
    erp: {{source: families, key: ref}}
    crm: {{source: Product_Category__c, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: code, erp: code, crm: Code__c}}
      - {{field: name, erp: name, crm: Name}}
  customer:
    model: customer
    direction: erp_to_crm
    erp: {{source: customers, key: id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: name, erp: name, crm: Name}}
      - {{field: phone, erp: phone, crm: Phone}}
"""


async def test_a_row_whose_text_key_is_empty_does_not_stop_the_flow(every_env: Env) -> None:
    """An ERP table keyed by text holds a row whose key is '' (allowed by NOT NULL).

    Its insert and its delete are logged like any other. Whatever Tandem does with that one
    row, later changes of the same and of other entities must keep flowing.
    """
    env = every_env
    env.erp(
        "CREATE TABLE families (ref VARCHAR(20) NOT NULL PRIMARY KEY, code VARCHAR(20), "
        "name VARCHAR(80) NOT NULL)"
    )
    env.erp("INSERT INTO families VALUES ('A', 'FA', 'Family A'), ('', 'FE', 'Family empty')")
    install_capture(env.erp_url, [("families", "ref"), ("customers", "id")])
    crm = env.crm
    config = env.folder / "text_key.yaml"
    config.write_text(
        TEXT_KEY_FLOW.format(
            state=env.folder / "text_key_state.db",
            erp_url=env.erp_url,
            base_url=crm.base_url,
            ca_file=crm.ca_file,
            username=crm.username,
            client_id=crm.client_id,
            folder=env.folder,
        ),
        encoding="utf-8",
    )
    flow = load_flow(config)
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("DELETE FROM families WHERE ref = ''")
        env.erp("UPDATE families SET name = 'Family A, renamed' WHERE ref = 'A'")
        env.erp("UPDATE customers SET phone = '+48 700 000 001' WHERE id = 7")
        await engine.sync()
    names = [r["Name"] for r in env.crm_rows("SELECT Name FROM Product_Category__c")]
    assert "Family A, renamed" in names and "Family empty" not in names
    assert _phone(env, 7) == "+48 700 000 001"
    (letter,) = [x for x in engine.store.dead_letters(flow=flow.name) if x.record_key == ""]
    assert letter.field == "ref" and "key (families.ref) is empty" in letter.message
