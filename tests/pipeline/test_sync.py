"""End to end: a real ERP database <-> the HTTPS Salesforce sandbox, through the engine."""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter
from decimal import Decimal

import pytest
from sandbox_faults import FAST_RETRIES, answers, injected
from tandem_env import Env

from tandem.demo.erp import BAD_NIP_CUSTOMER, nip
from tandem.errors import StoreError
from tandem.pipeline.reconcile import ReconcileReport, reconcile
from tandem.pipeline.resolve import apply_resolution
from tandem.pipeline.runtime import running_engine
from tandem.store import StateStore


async def test_initial_sync_both_ways_then_nothing_to_write(any_env: Env) -> None:
    flow = any_env.flow()
    async with running_engine(flow) as engine:
        first = await engine.sync()
        second = await engine.sync()
        dead = engine.store.dead_letters(flow=flow.name, status="open")
        drift = await reconcile(engine)
    accounts = any_env.crm_rows(
        "SELECT Id, Name, Tax_Id__c, ERP_Id__c, BillingCountry FROM Account"
    )
    assert len(accounts) == 19  # 20 customers, one with an invalid NIP
    assert {a["BillingCountry"] for a in accounts} <= {"Poland", "Germany", "Czechia"}
    assert str(BAD_NIP_CUSTOMER) not in {a["ERP_Id__c"] for a in accounts}
    assert len(any_env.crm_rows("SELECT Id FROM Contact")) == 38
    entries = any_env.crm_rows(
        "SELECT UnitPrice, Pricebook2.IsStandard, Product2.ProductCode FROM PricebookEntry"
    )
    assert len(entries) == 40
    assert all(e["Pricebook2"]["IsStandard"] for e in entries)  # type: ignore[index]
    assert first.total("created") == 19 + 38 + 5 + 40 + 40
    assert second.writes == 0 and second.write_calls == 0
    assert {(d.entity, d.record_key) for d in dead} == {
        ("customer", str(BAD_NIP_CUSTOMER)),
        ("contact", str(2 * BAD_NIP_CUSTOMER - 1)),
        ("contact", str(2 * BAD_NIP_CUSTOMER)),
    }
    nip_letter = next(d for d in dead if d.entity == "customer")
    assert nip_letter.field == "tax_id" and "NIP" in nip_letter.message
    erp_ids = {
        str(r[0]) for r in any_env.erp_rows("SELECT crm_id FROM contacts WHERE crm_id IS NOT NULL")
    }
    assert len(erp_ids) == 38  # the CRM's ids were written back to the ERP
    assert drift.entities["product"].differences == 0
    assert drift.entities["customer"].in_sync == 19


async def test_edits_flow_both_ways_and_new_crm_records_link_back(any_env: Env) -> None:
    env = any_env
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET phone = '+48 600 100 200', city = 'Gdynia' WHERE id = 2")
        contact = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '3'")[0]
        env.crm.org.update("Contact", str(contact["Id"]), {"Title": "Head of Procurement"})
        account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'")[0]
        new_id = env.crm.org.create(
            "Contact",
            {
                "LastName": "Nowa",
                "FirstName": "Ola",
                "Email": "ola.nowa@example.com",
                "AccountId": account["Id"],
            },
        )
        report = await engine.sync()
        third = await engine.sync()
    crm_account = env.crm_rows("SELECT Phone, BillingCity FROM Account WHERE ERP_Id__c = '2'")[0]
    assert (crm_account["Phone"], crm_account["BillingCity"]) == ("+48 600 100 200", "Gdynia")
    assert env.erp_rows("SELECT title FROM contacts WHERE id = 3")[0][0] == "Head of Procurement"
    created = env.erp_rows(
        "SELECT id, customer_id, last_name, crm_id FROM contacts "
        "WHERE email = 'ola.nowa@example.com'"
    )
    assert len(created) == 1
    new_erp_id, customer_id, last_name, crm_id = created[0]
    assert (customer_id, last_name, crm_id) == (2, "Nowa", new_id)
    linked = env.crm_rows(f"SELECT ERP_Id__c FROM Contact WHERE Id = '{new_id}'")[0]
    assert linked["ERP_Id__c"] == str(new_erp_id)
    assert report.total("created") == 1
    assert third.writes == 0


async def test_deletes_follow_each_entitys_policy(any_env: Env) -> None:
    env = any_env
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        before = await reconcile(engine)
        contact = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '5'")[0]
        env.crm.org.delete("Contact", str(contact["Id"]))
        account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '4'")[0]
        env.crm.org.delete("Account", str(account["Id"]))
        env.erp("DELETE FROM contacts WHERE id = 6")
        report = await engine.sync()
        settled = await engine.sync()
        # the archived customer is where its policy put it: agreed, not drift to heal
        compared = await reconcile(engine, heal=True)
    # the demo's bad-NIP customer and its two contacts are the only drift, before and after
    assert _drifts(compared) == _drifts(before) and len(_drifts(before)) == 3
    assert compared.entities["customer"].archived == 1
    assert env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '4'") == []
    assert env.erp_rows("SELECT COUNT(*) FROM contacts WHERE id = 5")[0][0] == 0  # delete
    assert not env.erp_rows("SELECT active FROM customers WHERE id = 4")[0][0]  # archive = flag
    gone = env.crm_rows("SELECT Id, IsDeleted FROM Contact WHERE ERP_Id__c = '6'", deleted=True)
    assert gone and gone[0]["IsDeleted"] is True
    # Salesforce deletes an account's contacts with it: ERP contacts 7 and 8 go too.
    assert env.erp_rows("SELECT COUNT(*) FROM contacts WHERE id IN (7, 8)")[0][0] == 0
    assert report.total("deleted") == 5
    assert settled.writes == 0  # nothing deleted comes back


def _drifts(report: ReconcileReport) -> set[tuple[str, str, str | None, str | None]]:
    return {(d.entity, d.kind, d.erp_key, d.crm_key) for d in report.drifts}


FLAG_PRODUCTS = {
    "    depends_on: [product_category]\n": "    depends_on: [product_category]\n"
    "    delete: {policy: flag, erp_field: active, crm_field: IsActive, value: false}\n"
}


async def test_a_mapped_flag_field_does_not_bring_deleted_records_back(env: Env) -> None:
    """The flag policy on a flag field the flow also maps (products' active <-> IsActive).

    The survivor of a delete is read back holding the flag; that is the delete's echo, not an
    edit, so the deleted side stays deleted. Clearing the flag restores the record.
    """
    flow = env.flow(**FLAG_PRODUCTS)
    for code in ("GONE-ERP", "GONE-CRM"):
        env.erp(f"INSERT INTO products (code, name) VALUES ('{code}', 'Spare {code}')")
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("DELETE FROM products WHERE code = 'GONE-ERP'")
        in_crm = env.crm_rows("SELECT Id FROM Product2 WHERE ProductCode = 'GONE-CRM'")[0]
        env.crm.org.delete("Product2", str(in_crm["Id"]))
        deleted = await engine.sync()
        echoes = await engine.sync()
        settled = await engine.sync()
        assert deleted.total("deleted") == 2
        assert echoes.writes == 0 and settled.writes == 0
        flagged = env.crm_rows("SELECT IsActive FROM Product2 WHERE ProductCode = 'GONE-ERP'")
        assert [row["IsActive"] for row in flagged] == [False]
        assert env.erp_rows("SELECT COUNT(*) FROM products WHERE code = 'GONE-ERP'")[0][0] == 0
        kept = env.erp_rows("SELECT active FROM products WHERE code = 'GONE-CRM'")
        assert [bool(row[0]) for row in kept] == [False]
        assert env.crm_rows("SELECT Id FROM Product2 WHERE ProductCode = 'GONE-CRM'") == []
        products = (await reconcile(engine, entities=["product"])).entities["product"]
        assert (products.differences, products.archived) == (0, 2)

        # An edit of the archived survivor keeps it archived; clearing the flag restores it.
        env.erp("UPDATE products SET name = 'Spare, renamed' WHERE code = 'GONE-CRM'")
        renamed = await engine.sync()
        assert renamed.writes == 0
        assert env.crm_rows("SELECT Id FROM Product2 WHERE ProductCode = 'GONE-CRM'") == []
        env.erp("UPDATE products SET active = TRUE WHERE code = 'GONE-CRM'")
        restored = await engine.sync()
        again = await engine.sync()
    assert restored.total("created") == 1 and again.writes == 0
    back = env.crm_rows("SELECT Name, IsActive FROM Product2 WHERE ProductCode = 'GONE-CRM'")
    assert [(row["Name"], row["IsActive"]) for row in back] == [("Spare, renamed", True)]


async def test_same_field_edited_on_both_sides_newest_wins_without_ping_pong(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET phone = '+48 111 111 111' WHERE id = 7")
        await asyncio.sleep(0.01)
        account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '7'")[0]
        env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 222 222 222"})
        await engine.sync()
        settled = await engine.sync()
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 7")[0][0] == "+48 222 222 222"
    assert env.crm_rows("SELECT Phone FROM Account WHERE ERP_Id__c = '7'")[0]["Phone"] == (
        "+48 222 222 222"
    )
    assert settled.writes == 0


async def test_manual_conflicts_wait_for_a_person(env: Env) -> None:
    flow = env.flow(**{"conflict: newest_wins": "conflict: manual"})
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET phone = '+48 111 000 000' WHERE id = 8")
        account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '8'")[0]
        env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 999 000 000"})
        await engine.sync()
        again = await engine.sync()
        conflicts = engine.store.conflicts(flow=flow.name, status="open")
        assert [(c.entity, c.erp_key, c.field) for c in conflicts] == [("customer", "8", "phone")]
        assert (conflicts[0].erp_value, conflicts[0].crm_value) == (
            "+48 111 000 000",
            "+48 999 000 000",
        )
        assert again.writes == 0
        await apply_resolution(engine, conflicts[0].id, "value", "+48 555 555 555")
        after = await engine.sync()
        assert engine.store.conflicts(flow=flow.name, status="open") == []
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 8")[0][0] == "+48 555 555 555"
    assert env.crm_rows("SELECT Phone FROM Account WHERE ERP_Id__c = '8'")[0]["Phone"] == (
        "+48 555 555 555"
    )
    assert after.writes == 0


async def test_bad_records_are_dead_lettered_and_the_rest_arrives(env: Env) -> None:
    env.erp(
        "INSERT INTO contacts (customer_id, first_name, last_name, email) "
        "VALUES (1, 'Bad', 'Email', 'not-an-email')"
    )
    env.erp(
        "INSERT INTO contacts (customer_id, first_name, last_name, email) "
        "VALUES (1, 'No', '', 'no.name@example.com')"
    )
    env.erp(
        "INSERT INTO customers (number, name, nip, country_code) "
        "VALUES ('C-LONG', :name, '5260250995', 'PL')",
        name="X" * 280,
    )
    env.erp(
        "INSERT INTO products (code, name, kind, category_id) "
        "VALUES ('P-BAD', 'Bad kind', 'subscription', 1)"
    )
    env.erp(
        "INSERT INTO customers (number, name, nip, country_code) "
        "VALUES ('C-GOOD', 'Good Co', '7740001454', 'PL')"
    )
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        letters = engine.store.dead_letters(flow=flow.name, status="open", limit=100)
    by_key = {(d.entity, d.field): d for d in letters}
    assert ("contact", "email") in by_key and "not-an-email" in by_key[("contact", "email")].message
    assert ("contact", "last_name") in by_key
    assert ("customer", "name") in by_key or ("customer", "Name") in by_key
    assert ("product", "kind") in by_key or ("product", "Kind__c") in by_key
    assert (
        "subscription"
        in (by_key.get(("product", "kind")) or by_key[("product", "Kind__c")]).message
    )
    assert env.crm_rows("SELECT Name FROM Account WHERE AccountNumber = 'C-GOOD'")[0]["Name"] == (
        "Good Co"
    )
    assert len(env.crm_rows("SELECT Id FROM Product2")) == 40


async def test_every_record_arrives_through_injected_faults(env: Env) -> None:
    # Rates high enough that every kind of fault is met in one pass (it makes some 40 calls
    # and writes ~140 records in collections, where locks are drawn per record).
    env.crm.set_faults(
        {
            "seed": 11,
            "error_rates": {"500": 0.12, "503": 0.12},
            "retry_after_s": 0,
            "lock_rate": 0.1,
            "expire_every": 7,
        }
    )
    flow = env.flow(**FAST_RETRIES)
    async with running_engine(flow) as engine:
        await engine.sync()
        faults = injected(env.crm)  # read before clear_faults() resets the counters
        env.crm.clear_faults()
        drift = await reconcile(engine)
    assert faults["http"] >= 1 and faults["lock"] >= 1 and faults["expire"] >= 1, faults
    statuses = answers(env.crm)
    assert statuses[500] + statuses[503] >= 1 and statuses[401] >= 1, statuses
    for name in ("product_category", "product", "price_list_entry"):
        assert drift.entities[name].differences == 0
    assert drift.entities["customer"].in_sync == 19
    assert drift.entities["contact"].in_sync == 38
    # Exactly once: one CRM record per ERP record that could be sent, none twice, no other.
    sendable = {  # the bad-NIP customer and its contacts are dead letters, not sent
        "Account": f"SELECT id FROM customers WHERE id != {BAD_NIP_CUSTOMER}",
        "Contact": f"SELECT id FROM contacts WHERE customer_id != {BAD_NIP_CUSTOMER}",
        "Product_Category__c": "SELECT id FROM product_categories",
        "Product2": "SELECT id FROM products",
        "PricebookEntry": "SELECT id FROM price_list_entries",
    }
    for sobject, sql in sendable.items():
        erp_ids = {str(key) for (key,) in env.erp_rows(sql)}
        arrived = Counter(
            str(r["ERP_Id__c"]) for r in env.crm_rows(f"SELECT ERP_Id__c FROM {sobject}")
        )
        assert set(arrived) == erp_ids, sobject
        assert set(arrived.values()) == {1}, sobject


async def test_reconcile_finds_drift_and_heal_repairs_it(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        product = env.crm_rows("SELECT Id FROM Product2 WHERE ERP_Id__c = '3'")[0]
        env.crm.org.update("Product2", str(product["Id"]), {"Name": "Edited behind our back"})
        found = await reconcile(engine)
        assert found.entities["product"].drift == {"differs": 1}
        drift = next(d for d in found.drifts if d.entity == "product")
        assert drift.fields["name"][1] == "Edited behind our back"
        await reconcile(engine, heal=True)
        after = await reconcile(engine)
    assert after.entities["product"].differences == 0
    name = env.crm_rows("SELECT Name FROM Product2 WHERE ERP_Id__c = '3'")[0]["Name"]
    assert name == env.erp_rows("SELECT name FROM products WHERE id = 3")[0][0]


async def test_continuous_run_picks_up_edits_on_either_side(any_env: Env) -> None:
    env = any_env  # on PostgreSQL the ERP's NOTIFY wakes the run; elsewhere it polls
    flow = env.flow(**{"poll_seconds: 1.0": "poll_seconds: 0.2"})
    async with running_engine(flow) as engine:
        await engine.sync()
        stop = asyncio.Event()
        runner = asyncio.create_task(engine.run(stop))
        env.erp("UPDATE price_list_entries SET unit_price = 1234.50 WHERE id = 9")
        price = None
        for _ in range(200):
            await asyncio.sleep(0.1)
            rows = env.crm_rows("SELECT UnitPrice FROM PricebookEntry WHERE ERP_Id__c = '9'")
            price = rows[0]["UnitPrice"]
            if Decimal(str(price)) == Decimal("1234.50"):
                break
        contact = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '4'")[0]["Id"]
        env.crm.org.update("Contact", str(contact), {"Title": "Edited in the CRM"})
        title = None
        for _ in range(200):
            await asyncio.sleep(0.1)
            title = env.erp_rows("SELECT title FROM contacts WHERE id = 4")[0][0]
            if title == "Edited in the CRM":
                break
        stop.set()
        await runner
    assert Decimal(str(price)) == Decimal("1234.50")
    assert title == "Edited in the CRM"


async def test_schema_drift_is_reported_on_the_next_run(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        assert engine.drift == []
        await engine.sync()
    env.erp("ALTER TABLE customers ADD COLUMN fax VARCHAR(40)")
    async with running_engine(flow) as engine:
        assert engine.drift == ["erp customers: field fax was added"]
    async with running_engine(flow) as engine:
        assert engine.drift == []


async def test_every_write_is_audited_with_before_after_and_cause(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET city = 'Sopot' WHERE id = 5")
        await engine.sync()
        entries = engine.store.audit_log(flow=flow.name, entity="customer", limit=500)
    crm_key = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '5'")[0]["Id"]
    mine = [e for e in entries if e.record_key == crm_key]
    assert [e.action for e in mine] == ["update", "create"]  # newest first
    update, create = mine
    assert create.before is None and create.after is not None
    assert create.after["name"]
    assert update.before == {"billing_address.city": create.after["billing_address.city"]}
    assert update.after == {"billing_address.city": "Sopot"}
    assert update.cause.startswith("erp:customer:5@")


async def test_catalogue_created_in_the_crm_reaches_the_erp(any_env: Env) -> None:
    env = any_env
    flow = env.flow()
    org = env.crm.org
    async with running_engine(flow) as engine:
        await engine.sync()
        category = org.create("Product_Category__c", {"Name": "Robots", "Code__c": "ROB"})
        product = org.create(
            "Product2",
            {
                "Name": "Robot arm",
                "ProductCode": "P-ROB-1",
                "IsActive": True,
                "Category__c": category,
                "Kind__c": "product",
                "QuantityUnitOfMeasure": "Each",
            },
        )
        standard = env.crm_rows("SELECT Id FROM Pricebook2 WHERE IsStandard = true")[0]["Id"]
        entry = org.create(
            "PricebookEntry",
            {
                "Pricebook2Id": standard,
                "Product2Id": product,
                "UnitPrice": 999.5,
                "IsActive": True,
            },
        )
        first = await engine.sync()
        org.update("Product2", product, {"Name": "Renamed in the CRM"})  # the ERP owns names
        await engine.sync()
        settled = await engine.sync()
    ((cat_id, code),) = env.erp_rows(
        "SELECT id, code FROM product_categories WHERE crm_id = :c", c=category
    )
    assert code == "ROB"
    ((prod_id, category_id, name),) = env.erp_rows(
        "SELECT id, category_id, name FROM products WHERE crm_id = :p", p=product
    )
    assert (category_id, name) == (cat_id, "Robot arm")
    ((entry_product, price_list, price, currency),) = env.erp_rows(
        "SELECT product_id, price_list_id, unit_price, currency FROM price_list_entries "
        "WHERE crm_id = :e",
        e=entry,
    )
    assert (entry_product, price_list, currency) == (prod_id, 1, "PLN")
    assert Decimal(str(price)) == Decimal("999.5")
    crm_product = env.crm_rows(f"SELECT Name, ERP_Id__c FROM Product2 WHERE Id = '{product}'")[0]
    assert crm_product == {**crm_product, "Name": "Robot arm", "ERP_Id__c": str(prod_id)}
    assert first.total("created") == 3
    assert settled.writes == 0


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
async def test_state_can_live_in_a_database_server(
    env: Env, backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(
        "pg_fresh_url" if backend == "postgresql" else "mariadb_fresh_url"
    )
    flow = env.flow(**{f"state: sqlite:///{env.folder / 'state.db'}": f"state: {url}"})
    assert flow.state_url() == url
    async with running_engine(flow) as engine:
        first = await engine.sync()
        second = await engine.sync()
        assert engine.store.count_links("customer") == 19
    assert first.total("created") == 19 + 38 + 5 + 40 + 40
    assert second.writes == 0


async def test_an_idle_pass_costs_one_salesforce_call(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as engine:
        crm = engine.systems.crm
        for _ in range(3):
            await engine.sync()
        # Until the newest change is older than the overlap window, an unchanged probe is
        # not trusted (a late commit may still land behind it): wait that window out, and
        # the second the org's Date header may be behind its clock.
        await asyncio.sleep(flow.entity("customer").overlap_seconds + 1.5)
        await engine.sync()  # reads once more, and probes at a time past the window
        before = crm.calls_made  # type: ignore[attr-defined]
        idle = await engine.sync()
        assert crm.calls_made - before == 1  # type: ignore[attr-defined]
        crm_reads = sum(
            counts["read"]
            for per in idle.counts.values()
            for direction, counts in per.items()
            if direction.startswith("crm")
        )
        assert crm_reads == 0
        contact = env.crm_rows("SELECT Id FROM Contact WHERE ERP_Id__c = '2'")[0]["Id"]
        env.crm.org.update("Contact", str(contact), {"Title": "Seen after a probe"})
        await engine.sync()
    assert env.erp_rows("SELECT title FROM contacts WHERE id = 2")[0][0] == "Seen after a probe"


async def test_a_notify_from_postgresql_wakes_the_run_before_the_poll_interval(
    pg_env: Env,
) -> None:
    env = pg_env
    # A poll interval far longer than the test may take: only a NOTIFY can wake the run.
    flow = env.flow(**{"poll_seconds: 1.0": "poll_seconds: 3600"})
    passes: list[int] = []
    async with running_engine(flow) as engine:
        await engine.sync()
        stop = asyncio.Event()
        runner = asyncio.create_task(
            engine.run(stop, on_pass=lambda report: passes.append(report.writes))
        )
        for _ in range(100):
            await asyncio.sleep(0.1)
            if passes:
                break
        env.erp("UPDATE customers SET city = 'Hel' WHERE id = 6")
        city = None
        for _ in range(200):
            await asyncio.sleep(0.1)
            rows = env.crm_rows("SELECT BillingCity FROM Account WHERE ERP_Id__c = '6'")
            city = rows[0]["BillingCity"]
            # the edit lands while its pass goes on to the other entities: its end is awaited
            if city == "Hel" and len(passes) >= 2:
                break
        stop.set()
        await runner
    assert city == "Hel"
    assert len(passes) >= 2


async def test_one_engine_at_a_time_syncs_a_flow(env: Env) -> None:
    flow = env.flow()
    async with running_engine(flow) as first:
        with pytest.raises(StoreError, match="is being synced by"):
            async with running_engine(flow):
                pass
        async with running_engine(flow, claim=False) as reader:  # check and plan still work
            assert (await reader.sync(dry_run=True)).planned
        await first.sync()
    async with running_engine(flow) as second:  # the first gave the flow up
        assert (await second.sync()).writes == 0


async def test_a_flow_held_by_a_process_that_died_is_taken_over(env: Env) -> None:
    flow = env.flow()
    ended = await asyncio.create_subprocess_exec("true")
    await ended.wait()  # its process id no longer runs
    dead = f"{socket.gethostname()}:{ended.pid}:gone"
    store = StateStore(flow.state_url())
    store.migrate()
    store.acquire_lease("flow:demo", dead, 600)
    store.close()
    async with running_engine(flow) as engine:
        assert (await engine.sync()).total("created") > 0


async def test_a_new_process_after_check_spends_no_call_on_describes(env: Env) -> None:
    flow = env.flow()
    objects = len({spec.crm.source for spec in flow.entities.values()})
    async with running_engine(flow, check=False, claim=False, fresh_describe=True) as checked:
        assert checked.systems.crm.calls_made == objects  # type: ignore[attr-defined]
    async with running_engine(flow) as engine:
        assert engine.systems.crm.calls_made == 0  # type: ignore[attr-defined]
        assert engine.problems == []
        report = await engine.sync()
        assert report.total("created") == 19 + 38 + 5 + 40 + 40
        # A write refused as a whole expires the saved descriptions.
        engine.store.expire_schema_snapshots(flow.name)
    async with running_engine(flow) as again:
        assert again.systems.crm.calls_made == objects  # type: ignore[attr-defined]


async def test_records_parked_for_an_unlinked_parent_follow_it_when_it_is_linked(env: Env) -> None:
    """Contacts of a customer that could not go to the CRM wait, and follow it by themselves."""
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        parked = engine.store.dead_letters(flow=flow.name, entity="contact")
        assert {(d.record_key, d.code, d.field) for d in parked} == {
            ("25", "UNLINKED_REF", "customer"),
            ("26", "UNLINKED_REF", "customer"),
        }
        waiting = await engine.sync()  # the customer is still refused: nothing moves
        assert waiting.writes == 0
        stats = engine.store.stats(flow.name)
        assert (stats["open_dead_letters"], stats["parked_dead_letters"]) == (3, 2)
        assert len(engine.store.dead_letters(flow=flow.name, entity="contact")) == 2

        valid = nip(random.Random(99))
        env.erp(f"UPDATE customers SET nip = '{valid}' WHERE id = {BAD_NIP_CUSTOMER}")
        fixed = await engine.sync()
        settled = await engine.sync()
        letters = engine.store.dead_letters(flow=flow.name, status=None)
    assert fixed.total("created") == 3  # the customer, then both contacts in the same pass
    assert settled.writes == 0
    assert {d.status for d in letters} == {"resolved"}
    account = env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{BAD_NIP_CUSTOMER}'")
    contacts = env.crm_rows("SELECT AccountId FROM Contact WHERE ERP_Id__c IN ('25', '26')")
    assert [c["AccountId"] for c in contacts] == [account[0]["Id"]] * 2
