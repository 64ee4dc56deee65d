"""Audit (second round): passes that die after the target's write and before the commit.

The first round killed passes at the commit and before the write-back, on SQLite and
PostgreSQL, in incremental passes over Collections writes. This round adds MariaDB, the
initial load (no cursor yet: the re-run is an initial load again, with match indexes), and
Bulk API 2.0 writes whose job landed in the org before the pass died.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from audit_kit import Killed, kill_once_at_commit, kill_once_before_write_back, new_customer
from tandem_env import Env

from tandem.connectors.base import EntityBinding, WriteOp, WriteOutcome
from tandem.pipeline.runtime import running_engine


def _kill_once_after_crm_outcomes(engine: Any, sobject: str) -> list[int]:
    """The first CRM write of ``sobject`` lands in full (a Bulk job: done in the org, its
    results read), then the pass dies before anything else of that batch happens."""
    connector = engine.systems.of("crm")
    submit = connector.submit_batch
    hits: list[int] = []

    async def submit_batch(
        binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> Callable[[], Awaitable[list[WriteOutcome]]]:
        collect = await submit(binding, ops)
        if binding.source != sobject or hits:
            return collect

        async def dying() -> list[WriteOutcome]:
            outcomes = await collect()
            hits.append(len(outcomes))
            raise Killed(f"killed after {len(outcomes)} outcomes of {sobject}")

        return dying

    connector.submit_batch = submit_batch
    return hits


def _assert_customers_once(env: Env, keys: Sequence[int]) -> None:
    ids = [str(a["ERP_Id__c"]) for a in env.crm_rows("SELECT ERP_Id__c FROM Account")]
    assert sorted(ids) == sorted(set(ids)), "an account written twice"
    for key in keys:
        accounts = env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{key}'")
        assert len(accounts) == 1, (key, accounts)
        erp = env.erp_rows(f"SELECT crm_id FROM customers WHERE id = {key}")
        assert erp[0][0] == accounts[0]["Id"], key


# -- MariaDB --------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before_write_back", "at_commit"])
async def test_mariadb_erp_create_killed_after_the_crm_write_is_not_duplicated(
    maria_env: Env, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    env = maria_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        new_customer(env, 81, "C-60081")
        new_customer(env, 82, "C-60082")
        kill = kill_once_before_write_back if where == "before_write_back" else kill_once_at_commit
        hits = kill(monkeypatch, "customer", "erp")
        with pytest.raises(Killed):
            await engine.sync()
        assert hits
        await engine.sync()
        settled = await engine.sync()
    _assert_customers_once(env, [81, 82])
    assert len(env.crm_rows("SELECT Id FROM Account")) == 19 + 2
    assert settled.writes == 0


def _crm_contact(env: Env, email: str) -> str:
    [account] = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'")
    return env.crm.org.create(
        "Contact",
        {"LastName": "Fromcrm", "FirstName": "Ela", "Email": email, "AccountId": account["Id"]},
    )


def _assert_linked_both_ways(env: Env, crm_id: str, email: str) -> None:
    erp = env.erp_rows("SELECT id, crm_id FROM contacts WHERE email = :e", e=email)
    crm = env.crm_rows(f"SELECT Id, ERP_Id__c FROM Contact WHERE Email = '{email}'")
    assert [str(r[1]) for r in erp] == [crm_id]
    assert [(c["Id"], c["ERP_Id__c"]) for c in crm] == [(crm_id, str(erp[0][0]))]


async def test_crm_create_killed_at_commit_is_linked_both_ways(
    every_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contact created in the CRM is inserted in the ERP, its ERP id written back to the
    CRM, and the commit dies. One contact in each system, each naming the other."""
    env = every_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        crm_id = _crm_contact(env, "commit.kill@example.com")
        hits = kill_once_at_commit(monkeypatch, "contact", "crm")
        with pytest.raises(Killed):
            await engine.sync()
        assert hits
        await engine.sync()
        settled = await engine.sync()
    _assert_linked_both_ways(env, crm_id, "commit.kill@example.com")
    assert settled.writes == 0


async def test_crm_create_killed_before_the_write_back_is_linked_both_ways(
    every_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contact created in the CRM is inserted in the ERP (its row holds the CRM id); the
    pass dies before the ERP id goes back to the CRM. The re-run links the two (no
    duplicate), but the write the dead pass owed the CRM, ERP_Id__c, must land too: it is
    the CRM's only strong key of the record (lesson 4) and what the normal path writes."""
    env = every_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        crm_id = _crm_contact(env, "writeback.kill@example.com")
        hits = kill_once_before_write_back(monkeypatch, "contact", "crm")
        with pytest.raises(Killed):
            await engine.sync()
        assert hits
        await engine.sync()
        await engine.sync()
        settled = await engine.sync()
    _assert_linked_both_ways(env, crm_id, "writeback.kill@example.com")
    assert settled.writes == 0
    assert settled.write_calls == 0


# -- the initial load -----------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before_write_back", "at_commit"])
async def test_initial_load_killed_after_the_crm_write_is_not_duplicated(
    every_env: Env, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The very first pass creates the categories and customers in the CRM and dies before
    their links are kept. The re-run is an initial load again (no cursor): it must link
    what the dead pass created, in both directions, and create nothing twice."""
    env = every_env
    kill = kill_once_before_write_back if where == "before_write_back" else kill_once_at_commit
    hits = kill(monkeypatch, "customer", "erp")
    async with running_engine(env.flow()) as engine:
        with pytest.raises(Killed):
            await engine.sync()
        assert hits
        created = len(env.crm_rows("SELECT Id FROM Account"))
        assert created > 0
        await engine.sync()
        await engine.sync()
        settled = await engine.sync()
    _assert_customers_once(env, [k for k in range(1, 21) if k != 13])  # 13: bad NIP
    assert env.erp_rows("SELECT COUNT(*) FROM customers")[0][0] == 20
    assert len(env.crm_rows("SELECT Id FROM Account")) == 19
    assert settled.writes == 0


async def test_initial_load_killed_at_the_category_commit_is_not_duplicated(
    every_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Categories (both directions, no match keys): the first pass creates them in the CRM
    and dies at their commit, before the CRM side of the entity was ever read. The re-run's
    CRM-side initial load finds five CRM records no link names."""
    env = every_env
    kill_once_at_commit(monkeypatch, "product_category", "erp")
    async with running_engine(env.flow()) as engine:
        with pytest.raises(Killed):
            await engine.sync()
        await engine.sync()
        settled = await engine.sync()
    crm = env.crm_rows("SELECT Id, ERP_Id__c FROM Product_Category__c")
    erp = env.erp_rows("SELECT id, crm_id FROM product_categories")
    assert len(crm) == 5 and len(erp) == 5
    assert sorted((str(r[0]), str(r[1])) for r in erp) == sorted(
        (str(c["ERP_Id__c"]), str(c["Id"])) for c in crm
    )
    assert settled.writes == 0


# -- Bulk API 2.0 ---------------------------------------------------------------------------------

BULK_WRITES = {
    "    client_secret: {file: secrets/sf_client_secret}\n": (
        "    client_secret: {file: secrets/sf_client_secret}\n    bulk_threshold: 10\n"
        "    bulk_poll_interval: 0.05\n"
    )
}
"""CRM writes of more than 10 records of one action go through a Bulk API 2.0 job (polled
from 50 ms on: the in-process org finishes these small jobs at once)."""


async def test_bulk_create_killed_after_the_job_landed_is_not_duplicated(
    every_env: Env,
) -> None:
    """15 new customers go to the CRM in one Bulk upsert job; the job is done in the org and
    its results read when the pass dies. The re-run sends them again (upserts keyed by the
    ERP id) and links each; none is created twice."""
    env = every_env
    async with running_engine(env.flow(**BULK_WRITES)) as engine:
        await engine.sync()
        for key in range(200, 215):
            new_customer(env, key, f"C-6{key:04d}")
        requests_before = dict(env.crm.state.requests)
        hits = _kill_once_after_crm_outcomes(engine, "Account")
        with pytest.raises(Killed):
            await engine.sync()
        assert hits == [15]
        bulk_calls = {
            k: v - requests_before.get(k, 0)
            for k, v in env.crm.state.requests.items()
            if "bulk" in k
        }
        assert any(v > 0 for v in bulk_calls.values()), env.crm.state.requests
        assert len(env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '205'")) == 1
        await engine.sync()
        settled = await engine.sync()
    _assert_customers_once(env, range(200, 215))
    assert len(env.crm_rows("SELECT Id FROM Account")) == 19 + 15
    assert settled.writes == 0


async def test_bulk_update_killed_after_the_job_landed_then_edited_back_in_the_crm(
    every_env: Env,
) -> None:
    """30 customers' phones (owned by both) edited in the ERP go by one Bulk job; the pass
    dies after its results. The re-run must agree on the new phones (the CRM holds them
    already), so a CRM user's later edit back to an old phone reaches the ERP."""
    env = every_env
    async with running_engine(env.flow(**BULK_WRITES)) as engine:
        await engine.sync()
        keys = [k for k in range(1, 21) if k != 13][:15]
        old = {k: env.erp_rows(f"SELECT phone FROM customers WHERE id = {k}")[0][0] for k in keys}
        for k in keys:
            env.erp(f"UPDATE customers SET phone = '+48 990 000 {k:03d}' WHERE id = {k}")
        hits = _kill_once_after_crm_outcomes(engine, "Account")
        with pytest.raises(Killed):
            await engine.sync()
        assert hits == [15]
        await engine.sync()
        await engine.sync()
        [account] = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'")
        env.crm.org.update("Account", str(account["Id"]), {"Phone": old[2]})
        await engine.sync()
        settled = await engine.sync()
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 2")[0][0] == old[2]
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 3")[0][0] == "+48 990 000 003"
    assert settled.writes == 0
