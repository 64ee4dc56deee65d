"""Audit: a pass killed after the target's write and before the state commit, then re-run.

The fault is injected at the two points between a target's write and the commit of the
batch's state: before the write-back to the source (the other system's key written into
it) and at the commit itself. After the re-run nothing may be missing and nothing written
twice, in either system.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_kit import Killed, kill_once_at_commit, kill_once_before_write_back, new_customer
from tandem_env import Env, build_env

from tandem.pipeline.outcome import BatchCommitter
from tandem.pipeline.runtime import running_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def crash_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.db'}"
    else:
        url = request.getfixturevalue("pg_fresh_url")
    yield from build_env(tmp_path, url)


# -- ERP -> CRM --------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["before_write_back", "at_commit"])
async def test_erp_create_killed_after_the_crm_write_is_not_duplicated(
    crash_env: Env, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    env = crash_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        new_customer(env, 81, "C-80081")
        new_customer(env, 82, "C-80082")
        kill = kill_once_before_write_back if where == "before_write_back" else kill_once_at_commit
        hits = kill(monkeypatch, "customer", "erp")
        with pytest.raises(Killed):
            await engine.sync()
        assert hits
        assert len(env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '81'")) == 1
        await engine.sync()
        settled = await engine.sync()
    for key in (81, 82):
        accounts = env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{key}'")
        assert len(accounts) == 1
        erp = env.erp_rows(f"SELECT crm_id FROM customers WHERE id = {key}")
        assert erp[0][0] == accounts[0]["Id"]
    assert len(env.crm_rows("SELECT Id FROM Account")) == 19 + 2
    assert settled.writes == 0


async def test_erp_update_killed_at_commit_is_resent_once(
    crash_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ERP-owned field (city) written to the CRM, the commit dies; the re-run sends it
    again (an idempotent update) and commits; the audit holds the one committed write."""
    env = crash_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET city = 'Hel' WHERE id = 5")
        kill_once_at_commit(monkeypatch, "customer", "erp")
        with pytest.raises(Killed):
            await engine.sync()
        again = await engine.sync()
        settled = await engine.sync()
        audit = engine.store.audit_log(flow=engine.flow.name, entity="customer", limit=1000)
    [account] = env.crm_rows("SELECT BillingCity FROM Account WHERE ERP_Id__c = '5'")
    assert account["BillingCity"] == "Hel"
    assert again.total("updated") == 1 and settled.writes == 0
    updates = [a for a in audit if a.action == "update" and a.record_key == account_key(env, 5)]
    assert len(updates) == 1  # the killed attempt left no audit entry behind


def account_key(env: Env, customer: int) -> str:
    [account] = env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{customer}'")
    return str(account["Id"])


async def test_shared_field_update_killed_at_commit_leaves_no_stale_agreed_value(
    crash_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Phone (owned by both) edited in the ERP, written to the CRM, the commit dies.

    The re-run sees the CRM holding the ERP's value already and writes nothing, which is
    right, but must also agree on that value: when a user then sets the CRM's phone back to
    the old number, that edit has to reach the ERP.
    """
    env = crash_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        old = env.erp_rows("SELECT phone FROM customers WHERE id = 5")[0][0]
        env.erp("UPDATE customers SET phone = '+48 900 000 001' WHERE id = 5")
        kill_once_at_commit(monkeypatch, "customer", "erp")
        with pytest.raises(Killed):
            await engine.sync()
        await engine.sync()
        await engine.sync()
        env.crm.org.update("Account", account_key(env, 5), {"Phone": old})
        await engine.sync()
        await engine.sync()
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 5")[0][0] == old


async def test_erp_delete_killed_at_commit_is_completed_by_the_rerun(
    crash_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contact 6 deleted in the ERP (policy delete): the CRM delete lands, the commit dies.

    The re-run deletes again (the CRM answers that it is deleted already); nothing is
    dead-lettered and nothing comes back.
    """
    env = crash_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        env.erp("DELETE FROM contacts WHERE id = 6")
        kill_once_at_commit(monkeypatch, "contact", "erp")
        with pytest.raises(Killed):
            await engine.sync()
        await engine.sync()
        settled = await engine.sync()
        letters = engine.store.dead_letters(flow=engine.flow.name, status="open")
    assert env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '6'") == []
    assert env.erp_rows("SELECT COUNT(*) FROM contacts WHERE id = 6")[0][0] == 0
    assert [d for d in letters if d.record_key == "6"] == []
    assert settled.writes == 0


# -- CRM -> ERP --------------------------------------------------------------------------------


def _new_crm_contact(env: Env, customer: int, email: str) -> str:
    [account] = env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{customer}'")
    return env.crm.org.create(
        "Contact",
        {"LastName": "Fromcrm", "FirstName": "Ala", "Email": email, "AccountId": account["Id"]},
    )


async def test_crm_create_killed_at_commit_is_not_duplicated(
    crash_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contact created in the CRM is inserted in the ERP and linked back; the commit dies."""
    env = crash_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        crm_id = _new_crm_contact(env, 2, "killed.commit@example.com")
        kill_once_at_commit(monkeypatch, "contact", "crm")
        with pytest.raises(Killed):
            await engine.sync()
        await engine.sync()
        settled = await engine.sync()
    erp = env.erp_rows("SELECT id, crm_id FROM contacts WHERE email = 'killed.commit@example.com'")
    crm = env.crm_rows(
        "SELECT Id, ERP_Id__c FROM Contact WHERE Email = 'killed.commit@example.com'"
    )
    assert [(str(r[1])) for r in erp] == [crm_id]
    assert [(c["Id"], c["ERP_Id__c"]) for c in crm] == [(crm_id, str(erp[0][0]))]
    assert settled.writes == 0


async def test_crm_create_killed_before_the_write_back_is_not_duplicated(
    crash_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A contact created in the CRM is inserted in the ERP; the pass dies before the ERP id
    is written back to the CRM (a CRM outage at that moment, or a kill).

    The ERP row holds the CRM id (crm_id); the re-run must link the two, not create a
    second CRM contact (nor then a second ERP row).
    """
    env = crash_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        crm_id = _new_crm_contact(env, 2, "killed.writeback@example.com")
        hits = kill_once_before_write_back(monkeypatch, "contact", "crm")
        with pytest.raises(Killed):
            await engine.sync()
        assert hits
        assert len(env.erp_rows("SELECT id FROM contacts WHERE crm_id = :c", c=crm_id)) == 1
        await engine.sync()
        await engine.sync()
    crm = env.crm_rows("SELECT Id FROM Contact WHERE Email = 'killed.writeback@example.com'")
    erp = env.erp_rows("SELECT id FROM contacts WHERE email = 'killed.writeback@example.com'")
    assert [c["Id"] for c in crm] == [crm_id]
    assert len(erp) == 1


async def test_crm_delete_killed_at_commit_is_completed_by_the_rerun(
    crash_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Contact 5 deleted in the CRM (policy delete): the ERP delete lands, the commit dies.

    The re-run reads the ERP's own delete entry too; the contact stays gone in both systems
    and nothing is dead-lettered.
    """
    env = crash_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        [contact] = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '5'")
        env.crm.org.delete("Contact", str(contact["Id"]))
        kill_once_at_commit(monkeypatch, "contact", "crm")
        with pytest.raises(Killed):
            await engine.sync()
        await engine.sync()
        settled = await engine.sync()
        letters = engine.store.dead_letters(flow=engine.flow.name, status="open")
    assert env.erp_rows("SELECT COUNT(*) FROM contacts WHERE id = 5")[0][0] == 0
    assert env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '5'") == []
    assert [d for d in letters if d.record_key in ("5", contact["Id"])] == []
    assert settled.writes == 0


async def test_pass_killed_in_the_middle_of_many_batches_resumes_exactly(
    crash_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 new customers read in batches of 7; the third batch's commit dies (batches 4 and
    later may already be in the CRM). The re-run sends the rest; each arrives once."""
    env = crash_env
    flow = env.flow(**{"batch_size: 200": "batch_size: 7"})
    async with running_engine(flow) as engine:
        await engine.sync()
        for key in range(100, 160):
            new_customer(env, key, f"C-8{key:04d}")
        real = BatchCommitter.commit
        seen: list[int] = []

        def commit(self: BatchCommitter, ctx: Any, side: str, *args: Any) -> None:
            if ctx.name == "customer" and side == "erp":
                seen.append(1)
                if len(seen) == 3:
                    raise Killed("killed at the third commit")
            real(self, ctx, side, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(BatchCommitter, "commit", commit)
        with pytest.raises(Killed):
            await engine.sync()
        monkeypatch.setattr(BatchCommitter, "commit", real)
        await engine.sync()
        settled = await engine.sync()
    ids = [str(a["ERP_Id__c"]) for a in env.crm_rows("SELECT ERP_Id__c FROM Account")]
    assert sorted(ids) == sorted(set(ids))
    assert {str(k) for k in range(100, 160)} <= set(ids)
    unlinked = env.erp_rows("SELECT COUNT(*) FROM customers WHERE id >= 100 AND crm_id IS NULL")
    assert unlinked[0][0] == 0
    assert settled.writes == 0
