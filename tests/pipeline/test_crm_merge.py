"""A merge in the CRM is not a delete: the loser's ERP partner stays, unlinked, held for a
person (a ``MERGED_IN_CRM`` dead letter), never deleted, archived or re-created in the CRM;
the master keeps syncing. Against a SQLite ERP and the HTTPS sandbox, merged through the
sandbox's SOAP ``merge()``."""

from __future__ import annotations

import ssl

import httpx
from tandem_env import Env

from tandem.pipeline.engine import Engine
from tandem.pipeline.outcome import MERGED_IN_CRM
from tandem.pipeline.runtime import running_engine
from tandem.store import DeadLetter

_MERGE = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:urn="urn:partner.soap.sforce.com" xmlns:sobj="urn:sobject.partner.soap.sforce.com">'
    "<env:Header><urn:SessionHeader><urn:sessionId>{session}</urn:sessionId>"
    "</urn:SessionHeader></env:Header><env:Body><urn:merge><urn:request>"
    "<urn:masterRecord><sobj:type>{sobject}</sobj:type><sobj:Id>{master}</sobj:Id>"
    "</urn:masterRecord><urn:recordToMergeIds>{loser}</urn:recordToMergeIds>"
    "</urn:request></urn:merge></env:Body></env:Envelope>"
)


def _merge(env: Env, sobject: str, master: str, loser: str) -> None:
    """Merge ``loser`` into ``master`` as a Salesforce user's tool would: SOAP ``merge()``."""
    crm = env.crm
    context = ssl.create_default_context(cafile=str(crm.ca_file))
    body = _MERGE.format(session=crm.issue_token(), sobject=sobject, master=master, loser=loser)
    with httpx.Client(base_url=crm.base_url, verify=context, timeout=30) as client:
        answer = client.post(
            f"/services/Soap/u/59.0/{crm.org.org_id}",
            content=body,
            headers={"content-type": "text/xml", "SOAPAction": "merge"},
        )
    assert answer.status_code == 200 and "<success>true</success>" in answer.text, answer.text


def _accounts(env: Env) -> tuple[dict[str, object], dict[str, object]]:
    master, loser = env.crm_rows("SELECT Id, ERP_Id__c FROM Account ORDER BY ERP_Id__c LIMIT 2")
    return master, loser


async def _merged(env: Env, engine: Engine) -> tuple[dict[str, object], dict[str, object]]:
    """Sync, merge the second account into the first in the CRM (SOAP ``merge()``), sync
    again: the master and the loser, as read before the merge."""
    await engine.sync()
    master, loser = _accounts(env)
    _merge(env, "Account", str(master["Id"]), str(loser["Id"]))
    await engine.sync()
    return master, loser


def _letters(engine: Engine, status: str | None = "open") -> list[DeadLetter]:
    return engine.store.dead_letters(flow=engine.flow.name, status=status, code=MERGED_IN_CRM)


def _customer(env: Env, key: object) -> tuple[object, ...]:
    (row,) = env.erp_rows("SELECT id, name, active, crm_id FROM customers WHERE id = :k", k=key)
    return tuple(row)


async def test_a_merged_accounts_erp_customer_is_kept_and_put_before_a_person(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        master, loser = _accounts(env)
        erp_master, erp_loser = str(master["ERP_Id__c"]), str(loser["ERP_Id__c"])
        kept = _customer(env, erp_loser)
        moved = env.crm_rows(f"SELECT Id, ERP_Id__c FROM Contact WHERE AccountId = '{loser['Id']}'")
        _merge(env, "Account", str(master["Id"]), str(loser["Id"]))
        await engine.sync()
        accounts = len(env.crm_rows("SELECT Id FROM Account"))
        await engine.sync()  # nothing comes back, nothing moves
        (letter,) = _letters(engine)
        assert engine.store.partner("customer", "erp", erp_loser) is None
        assert engine.store.synced("customer", "erp", [erp_loser]) == {}
        assert engine.store.partner("customer", "erp", erp_master) == master["Id"]

    # the loser's customer is neither archived nor deleted: its row is as it was
    assert _customer(env, erp_loser) == kept and kept[2] in (1, True)
    assert len(env.crm_rows("SELECT Id FROM Account")) == accounts
    assert env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{erp_loser}'") == []
    assert (letter.side, letter.record_key, letter.attempts) == ("erp", erp_loser, 1)
    message = letter.message
    for named in (str(loser["Id"]), str(master["Id"]), erp_loser, erp_master, "customer"):
        assert named in message
    assert "merge ERP record" in message and "retry" in message
    # the contacts Salesforce moved to the master follow it in the ERP
    for contact in moved:
        (row,) = env.erp_rows(
            "SELECT customer_id FROM contacts WHERE id = :k", k=contact["ERP_Id__c"]
        )
        assert str(row[0]) == erp_master


async def test_the_held_customer_is_not_created_in_the_crm_when_edited_or_retried(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        _, loser = await _merged(env, engine)
        erp_loser = str(loser["ERP_Id__c"])
        env.erp("UPDATE customers SET name = 'Renamed in the ERP' WHERE id = :k", k=erp_loser)
        await engine.sync()
        (letter,) = _letters(engine)
        assert letter.attempts == 1  # an edit is held, not a new failure
        # `tandem deadletters retry`: queued, re-read, still nobody's: held, open again
        engine.store.enqueue(
            flow=engine.flow.name,
            entity="customer",
            side="erp",
            record_keys=[erp_loser],
            reason=f"retry dead letter {letter.id}",
        )
        engine.store.set_dead_letter_status([letter.id], "retrying")
        report = await engine.sync()
        (again,) = _letters(engine)

    assert env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{erp_loser}'") == []
    assert env.crm_rows("SELECT Id FROM Account WHERE Name = 'Renamed in the ERP'") == []
    assert (again.id, again.attempts) == (letter.id, 2)
    assert report.total("created") == 0


async def test_the_masters_customer_keeps_syncing_both_ways(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        master, loser = _accounts(env)
        erp_master = str(master["ERP_Id__c"])
        _merge(env, "Account", str(master["Id"]), str(loser["Id"]))
        env.crm.org.update("Account", str(master["Id"]), {"Phone": "+48 22 111 11 11"})
        await engine.sync()
        (row,) = env.erp_rows("SELECT phone FROM customers WHERE id = :k", k=erp_master)
        assert row[0] == "+48 22 111 11 11"
        env.erp("UPDATE customers SET name = 'Master Renamed' WHERE id = :k", k=erp_master)
        await engine.sync()
    (account,) = env.crm_rows(f"SELECT Name FROM Account WHERE Id = '{master['Id']}'")
    assert account["Name"] == "Master Renamed"


async def test_merged_in_the_erp_too_resolves_the_letter(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        master, loser = await _merged(env, engine)
        erp_master, erp_loser = str(master["ERP_Id__c"]), str(loser["ERP_Id__c"])
        # a person merges the two customers in the ERP: moves what refers to it, deletes it
        env.erp(
            "UPDATE contacts SET customer_id = :m WHERE customer_id = :k", m=erp_master, k=erp_loser
        )
        env.erp("DELETE FROM customers WHERE id = :k", k=erp_loser)
        report = await engine.sync()
        assert _letters(engine) == []
        (letter,) = _letters(engine, status="resolved")
    assert letter.record_key == erp_loser
    assert report.total("deleted") == 0
    (account,) = env.crm_rows(f"SELECT IsDeleted FROM Account WHERE Id = '{master['Id']}'")
    assert account["IsDeleted"] is False


async def test_a_dropped_letter_lets_the_customer_sync_as_its_own(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        _, loser = await _merged(env, engine)
        erp_loser = str(loser["ERP_Id__c"])
        (letter,) = _letters(engine)
        engine.store.set_dead_letter_status([letter.id], "dropped")  # `deadletters drop`
        env.erp("UPDATE customers SET name = 'On its own' WHERE id = :k", k=erp_loser)
        await engine.sync()
        (created,) = env.crm_rows(f"SELECT Id, Name FROM Account WHERE ERP_Id__c = '{erp_loser}'")
        assert engine.store.partner("customer", "erp", erp_loser) == created["Id"]
        await engine.sync()
        assert _letters(engine) == []
        assert len(env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{erp_loser}'")) == 1
    assert created["Name"] == "On its own" and created["Id"] != loser["Id"]


async def test_a_merged_contact_is_not_deleted_in_the_erp(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        master, loser = env.crm_rows("SELECT Id, ERP_Id__c FROM Contact ORDER BY ERP_Id__c LIMIT 2")
        _merge(env, "Contact", str(master["Id"]), str(loser["Id"]))
        report = await engine.sync()
        (letter,) = _letters(engine)
    assert report.total("deleted") == 0
    assert env.erp_rows("SELECT id FROM contacts WHERE id = :k", k=loser["ERP_Id__c"]) != []
    assert (letter.entity, letter.record_key) == ("contact", str(loser["ERP_Id__c"]))


async def test_linked_to_an_unlinked_master_by_a_person_the_letter_resolves(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        _, loser = _accounts(env)
        erp_loser = str(loser["ERP_Id__c"])
        # an Account the ERP refused (a country its value map lacks): linked to nothing
        master = env.crm.org.create("Account", {"Name": "Acme (CRM)", "BillingCountry": "Narnia"})
        await engine.sync()
        assert engine.store.partner("customer", "crm", master) is None
        _merge(env, "Account", master, str(loser["Id"]))
        await engine.sync()
        (letter,) = _letters(engine)
        assert f"set its crm_id to {master}" in letter.message
        # the person links the ERP customer to the master, as the letter says
        env.erp("UPDATE customers SET crm_id = :m WHERE id = :k", m=master, k=erp_loser)
        await engine.sync()
        assert _letters(engine) == []
        assert engine.store.partner("customer", "erp", erp_loser) == master
        (resolved,) = _letters(engine, status="resolved")
    kept = _customer(env, erp_loser)
    (account,) = env.crm_rows(
        f"SELECT Name, Tax_Id__c, ERP_Id__c FROM Account WHERE Id = '{master}'"
    )
    # the ERP owns customers: its values go to the master, which now names it
    assert (account["Name"], account["ERP_Id__c"]) == (kept[1], erp_loser)
    assert resolved.id == letter.id


async def test_a_loser_the_work_queue_finds_gone_is_a_merge_too(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        master, loser = _accounts(env)
        erp_loser = str(loser["ERP_Id__c"])
        kept = _customer(env, erp_loser)
        _merge(env, "Account", str(master["Id"]), str(loser["Id"]))
        # queued before any read saw the merge (a retried letter, a reconcile heal): the
        # drain runs first and finds the record gone, which says nothing of a merge
        engine.store.enqueue(
            flow=engine.flow.name,
            entity="customer",
            side="crm",
            record_keys=[str(loser["Id"])],
            reason="reconcile heal",
        )
        report = await engine.sync()
        (letter,) = _letters(engine)
    assert _customer(env, erp_loser) == kept
    assert report.total("deleted") == 0
    assert letter.record_key == erp_loser and str(master["Id"]) in letter.message
