"""``reconcile --heal`` carries a delete that was made but not synced; it does not undo it.

A linked record whose partner is gone was deleted on the partner's side. Healing it by
re-creating the partner brought the record back under a new key (a new ERP row, the
Account's ERP id rewritten to it, the captured delete then matching nothing) and the delete
never reached the other system. Healing now treats it as a sync treats a delete read from
that side: the entity's delete policy (delete, archive, flag, ignore) is carried to the
other system. Only where the side the record vanished from is no source of deletes (a
one-way entity written to that side) is it created there again.
"""

from __future__ import annotations

from pathlib import Path

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine
from tandem_env import Env

from tandem.pipeline.engine import Engine
from tandem.pipeline.reconcile import ReconcileReport, reconcile
from tandem.pipeline.runtime import running_engine

# -- the demo flow: a SQLite ERP with change capture and the Salesforce sandbox --------------


def crm_id(env: Env, sobject: str, erp_id: str) -> str:
    """The Id of the one live ``sobject`` record that carries ``erp_id``."""
    (row,) = env.crm_rows(f"SELECT Id FROM {sobject} WHERE ERP_Id__c = '{erp_id}'")
    return str(row["Id"])


def live_erp_ids(env: Env, sobject: str) -> list[str]:
    """The ERP ids the live ``sobject`` records carry, sorted (a duplicate shows twice)."""
    return sorted(str(r["ERP_Id__c"]) for r in env.crm_rows(f"SELECT ERP_Id__c FROM {sobject}"))


def erp_ids(env: Env, table: str) -> list[int]:
    return [int(str(r[0])) for r in env.erp_rows(f"SELECT id FROM {table} ORDER BY id")]


def in_recycle_bin(env: Env, sobject: str, record: str) -> bool:
    rows = env.crm_rows(f"SELECT Id, IsDeleted FROM {sobject} WHERE Id = '{record}'", deleted=True)
    return [r["IsDeleted"] for r in rows] == [True]


def kinds(report: ReconcileReport) -> list[tuple[str, str, str | None, str | None]]:
    return sorted((d.entity, d.kind, d.erp_key or "", d.crm_key) for d in report.drifts)


async def agreed(env: Env, engine: Engine) -> None:
    """The demo synced; both systems agree."""
    await engine.sync()
    assert (await reconcile(engine)).differences == 0


async def test_a_customer_deleted_in_the_erp_is_deleted_in_the_crm_not_created_again(
    env: Env,
) -> None:
    # The reviewer's case: archive policy; the ERP's delete is captured, no sync in between.
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await agreed(env, engine)
        account = crm_id(env, "Account", "13")
        customers, accounts = erp_ids(env, "customers"), live_erp_ids(env, "Account")
        env.erp("DELETE FROM customers WHERE id = 13")

        found = await reconcile(engine, entities=["customer"])
        assert kinds(found) == [("customer", "missing_in_erp", "13", account)]
        report = await reconcile(engine, heal=True)
        settled = await engine.sync()
        after = await reconcile(engine)

    assert (report.healed, report.unrepaired) == (1, 0)
    assert erp_ids(env, "customers") == [c for c in customers if c != 13]  # no new row
    assert live_erp_ids(env, "Account") == [a for a in accounts if a != "13"]
    assert in_recycle_bin(env, "Account", account)  # archive: the CRM's recycle bin
    assert settled.writes == 0  # the captured delete and the CRM's echo write nothing
    # Both records are gone now and archive keeps their link, as a sync of the delete
    # leaves it: reported as gone from both systems, and nothing else.
    assert kinds(after) == [("customer", "gone_both_sides", "13", account)]


async def test_a_contact_deleted_in_the_crm_is_deleted_in_the_erp_not_created_again(
    env: Env,
) -> None:
    # The delete policy; the Contact waits in the recycle bin, no sync in between.
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await agreed(env, engine)
        contact = crm_id(env, "Contact", "5")
        contacts, in_crm = erp_ids(env, "contacts"), live_erp_ids(env, "Contact")
        env.crm.org.delete("Contact", contact)

        found = await reconcile(engine)
        assert kinds(found) == [("contact", "missing_in_crm", "5", contact)]
        report = await reconcile(engine, heal=True)
        settled = await engine.sync()
        after = await reconcile(engine)
        links = (
            engine.store.partner("contact", "erp", "5"),
            engine.store.partner("contact", "crm", contact),
        )

    assert (report.healed, report.unrepaired) == (1, 0)
    assert erp_ids(env, "contacts") == [c for c in contacts if c != 5]
    assert live_erp_ids(env, "Contact") == [c for c in in_crm if c != "5"]  # none created
    assert links == (None, None)  # the delete policy drops the link, as a synced delete does
    assert settled.writes == 0
    assert after.differences == 0


async def test_a_contact_deleted_in_the_erp_is_deleted_in_the_crm(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await agreed(env, engine)
        contact = crm_id(env, "Contact", "6")
        contacts, in_crm = erp_ids(env, "contacts"), live_erp_ids(env, "Contact")
        env.erp("DELETE FROM contacts WHERE id = 6")

        report = await reconcile(engine, heal=True)
        settled = await engine.sync()
        after = await reconcile(engine)

    assert (report.healed, report.unrepaired) == (1, 0)
    assert erp_ids(env, "contacts") == [c for c in contacts if c != 6]  # not created again
    assert live_erp_ids(env, "Contact") == [c for c in in_crm if c != "6"]
    assert in_recycle_bin(env, "Contact", contact)
    assert settled.writes == 0
    assert after.differences == 0


async def test_an_account_deleted_in_the_crm_archives_its_erp_customer(env: Env) -> None:
    # Salesforce deletes the Account's contacts with it: they are deleted in the ERP too,
    # as a sync of that delete does (test_sync.test_deletes_follow_each_entitys_policy).
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await agreed(env, engine)
        account = crm_id(env, "Account", "4")
        accounts, contacts = live_erp_ids(env, "Account"), erp_ids(env, "contacts")
        env.crm.org.delete("Account", account)

        report = await reconcile(engine, heal=True)
        settled = await engine.sync()
        after = await reconcile(engine)

    assert (report.healed, report.unrepaired) == (3, 0)  # the customer and its two contacts
    assert live_erp_ids(env, "Account") == [a for a in accounts if a != "4"]  # none created
    assert [tuple(r) for r in env.erp_rows("SELECT id, active FROM customers WHERE id = 4")] == [
        (4, False)
    ]
    assert erp_ids(env, "contacts") == [c for c in contacts if c not in (7, 8)]
    assert settled.writes == 0
    assert after.differences == 0 and after.entities["customer"].archived == 1


# -- systems in memory: the other policies and directions ------------------------------------

FLAG = MEMORY_FLOW.replace(
    "    owner: erp\n",
    "    owner: erp\n"
    "    delete: {{policy: flag, erp_field: active, crm_field: Active, value: N}}\n",
)
"""The flag policy, its flag a text field (the systems in memory hold text)."""
DELETE = MEMORY_FLOW.replace("    owner: erp\n", "    owner: erp\n    delete: {{policy: delete}}\n")
CRM_TO_ERP = (
    MEMORY_FLOW.replace("direction: both", "direction: crm_to_erp")
    .replace("    owner: erp\n", "    delete: {{policy: delete}}\n")
    .replace(", owner: crm", "")
)
ERP_TO_CRM = (
    MEMORY_FLOW.replace("direction: both", "direction: erp_to_crm")
    .replace("    owner: erp\n", "    delete: {{policy: delete}}\n")
    .replace(", owner: crm", "")
)


async def in_memory(
    tmp_path: Path, flow: str, source: str = "erp"
) -> tuple[Engine, MemoryConnector, MemoryConnector]:
    """Customers 1 and 2 made in ``source`` and synced; both systems agree."""
    erp, crm = MemoryConnector("erp"), MemoryConnector("crm", key_prefix="001")
    engine = memory_engine(tmp_path, flow, erp, crm)
    for key, name in (("1", "Acme"), ("2", "Globex")):
        if source == "erp":
            erp.put("customers", key, {"name": name, "phone": None})
        else:
            crm.put("Account", f"001{key}0", {"Name": name, "Phone": None})
    await engine.prepare()
    await engine.sync()
    await engine.sync()  # the write-back of the partners' keys is read
    assert (await reconcile(engine)).differences == 0
    return engine, erp, crm


def partner(engine: Engine, side: str, key: str) -> str:
    found = engine.store.partner("customer", "erp" if side == "erp" else "crm", key)
    assert found is not None
    return found


async def test_flag_policy_flags_the_survivor_of_a_delete_made_on_either_side(
    tmp_path: Path,
) -> None:
    engine, erp, crm = await in_memory(tmp_path, FLAG)
    acme, globex = partner(engine, "erp", "1"), partner(engine, "erp", "2")
    erp.remove("customers", "1")  # captured in the ERP, not synced yet
    crm.remove("Account", globex)  # in the CRM's recycle bin, not synced yet

    report = await reconcile(engine, heal=True)
    writes = erp.write_calls, crm.write_calls
    settled = await engine.sync()
    after = await reconcile(engine)

    assert (report.healed, report.unrepaired) == (2, 0)
    assert sorted(erp.records["customers"]) == ["2"]  # Acme not created again
    assert erp.records["customers"]["2"]["active"] == "N"
    assert sorted(crm.records["Account"]) == [acme]  # Globex not created again
    assert crm.records["Account"][acme]["Active"] == "N"
    assert settled.writes == 0 and (erp.write_calls, crm.write_calls) == writes
    assert after.differences == 0 and after.entities["customer"].archived == 2


async def test_a_hard_delete_in_a_read_only_erp_is_carried_to_the_crm(tmp_path: Path) -> None:
    # An ERP read by a modified-at column: its hard deletes leave no trace but reconcile's.
    engine, erp, crm = await in_memory(tmp_path, DELETE)
    acme = partner(engine, "erp", "1")
    del erp.records["customers"]["1"]

    report = await reconcile(engine, heal=True)
    settled = await engine.sync()
    after = await reconcile(engine)

    assert (report.healed, report.unrepaired) == (1, 0)
    assert sorted(erp.records["customers"]) == ["2"]
    assert acme not in crm.records["Account"] and len(crm.records["Account"]) == 1
    assert engine.store.partner("customer", "crm", acme) is None
    assert settled.writes == 0 and after.differences == 0


async def test_ignore_policy_leaves_the_survivor_and_creates_nothing(tmp_path: Path) -> None:
    engine, erp, crm = await in_memory(tmp_path, MEMORY_FLOW)  # no delete policy: ignore
    globex = partner(engine, "erp", "2")
    del erp.records["customers"]["1"]
    crm.remove("Account", globex)

    report = await reconcile(engine, heal=True)
    settled = await engine.sync()
    after = await reconcile(engine)

    assert (report.healed, report.unrepaired) == (2, 0)
    assert sorted(erp.records["customers"]) == ["2"]
    assert len(crm.records["Account"]) == 1 and globex not in crm.records["Account"]
    assert settled.writes == 0
    assert after.differences == 0 and after.entities["customer"].archived == 2


async def test_a_crm_delete_of_a_crm_to_erp_entity_is_carried_to_the_erp(tmp_path: Path) -> None:
    # The CRM is the master: its purged record (no trace left) is a delete for the ERP.
    engine, erp, crm = await in_memory(tmp_path, CRM_TO_ERP, source="crm")
    dead = "00110"
    erp_key = partner(engine, "crm", dead)
    del crm.records["Account"][dead]

    found = await reconcile(engine)
    assert kinds(found) == [("customer", "missing_in_crm", erp_key, dead)]
    report = await reconcile(engine, heal=True)
    settled = await engine.sync()

    assert (report.healed, report.unrepaired) == (1, 0)
    assert erp_key not in erp.records["customers"] and len(erp.records["customers"]) == 1
    assert sorted(crm.records["Account"]) == ["00120"]
    assert settled.writes == 0 and (await reconcile(engine)).differences == 0


async def test_an_erp_row_gone_from_a_crm_to_erp_entity_is_created_again(tmp_path: Path) -> None:
    # The ERP is no source of this entity's deletes: the CRM's record is the master.
    engine, erp, crm = await in_memory(tmp_path, CRM_TO_ERP, source="crm")
    gone = partner(engine, "crm", "00110")
    erp.remove("customers", gone)

    report = await reconcile(engine, heal=True)
    settled = await engine.sync()

    assert (report.healed, report.unrepaired) == (1, 0)
    back = partner(engine, "crm", "00110")
    assert back != gone and erp.records["customers"][back]["name"] == "Acme"
    assert len(erp.records["customers"]) == 2 and len(crm.records["Account"]) == 2
    assert settled.writes == 0 and (await reconcile(engine)).differences == 0


async def test_a_crm_record_gone_from_an_erp_to_crm_entity_is_created_again(
    tmp_path: Path,
) -> None:
    engine, erp, crm = await in_memory(tmp_path, ERP_TO_CRM)
    gone = partner(engine, "erp", "1")
    crm.remove("Account", gone)

    report = await reconcile(engine, heal=True)
    settled = await engine.sync()

    assert (report.healed, report.unrepaired) == (1, 0)
    back = partner(engine, "erp", "1")
    assert back != gone and crm.records["Account"][back]["Name"] == "Acme"
    assert sorted(erp.records["customers"]) == ["1", "2"] and len(crm.records["Account"]) == 2
    assert settled.writes == 0 and (await reconcile(engine)).differences == 0
