"""More ``tandem`` commands driven as a user types them: dead-letter drop, reconcile --heal,
conflict resolution by the ERP's value or a typed one, and the plan as a person reads it."""

from __future__ import annotations

import re

import pytest
from cli_run import tandem, tandem_json
from tandem_env import Env

from tandem.demo.erp import BAD_NIP_CUSTOMER


def table_rows(out: str) -> list[dict[str, str]]:
    """The body rows of every table printed in ``out``, each keyed by its table's headers."""
    rows: list[dict[str, str]] = []
    headers: list[str] = []
    for line in out.splitlines():
        text = line.strip()
        if text.startswith("┃"):
            headers = [cell.strip() for cell in text.strip("┃").split("┃")]
        elif text.startswith("│"):
            cells = [cell.strip() for cell in text.strip("│").split("│")]
            rows.append(dict(zip(headers, cells, strict=True)))
    return rows


def crm_one(env: Env, soql: str) -> dict[str, object]:
    (row,) = env.crm_rows(soql)
    return row


def test_deadletters_drop_takes_the_letter_off_the_list_and_a_second_drop_says_so(
    env: Env,
) -> None:
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    letters = tandem_json("deadletters", "list", "-c", config)
    gone = next(d["id"] for d in letters if d["record_key"] == str(BAD_NIP_CUSTOMER))
    kept = [d["id"] for d in letters if d["id"] != gone]
    assert kept  # the bad customer's contacts wait too; they must stay

    code, out = tandem("deadletters", "drop", str(gone), "-c", config)
    assert code == 0, out
    assert out.strip() == "1 dead letters dropped"
    assert [d["id"] for d in tandem_json("deadletters", "list", "-c", config)] == kept
    code, out = tandem("deadletters", "list", "-c", config)
    assert code == 0, out
    assert [int(row["id"]) for row in table_rows(out) if row["id"]] == kept
    dropped = tandem_json("deadletters", "list", "-c", config, "--status", "dropped")
    assert [(d["id"], d["status"]) for d in dropped] == [(gone, "dropped")]
    assert tandem_json("status", "-c", config)["open_dead_letters"] == len(kept)

    code, out = tandem("deadletters", "drop", str(gone), "-c", config)
    assert code == 0, out
    assert f"dead letter {gone} is already dropped" in out
    assert "0 dead letters dropped" in out
    unknown = max(*kept, gone) + 1
    code, out = tandem("deadletters", "drop", str(unknown), "-c", config)
    assert code == 1
    assert f"has no dead letter {unknown}" in out

    # Dropped means given up on: a retry of every open letter leaves it out.
    code, out = tandem("deadletters", "retry", "-c", config)
    assert code == 0, out
    assert f"{len(kept)} dead letters queued" in out
    still = tandem_json("deadletters", "list", "-c", config, "--status", "dropped")
    assert [d["id"] for d in still] == [gone]

    # Named by its id, a dropped letter is queued again, and said so; an unknown id is an
    # error; a resolved letter is left as it is.
    code, out = tandem("deadletters", "retry", str(gone), str(unknown), "-c", config)
    assert code == 1
    assert f"dead letter {gone} was dropped; queued again" in out
    assert f"has no dead letter {unknown}" in out and "1 dead letters queued" in out
    retrying = tandem_json("deadletters", "list", "-c", config, "--status", "retrying")
    assert gone in [d["id"] for d in retrying]
    env.fix_the_bad_nip()
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    resolved = tandem_json("deadletters", "list", "-c", config, "--status", "resolved")
    assert gone in [d["id"] for d in resolved]
    code, out = tandem("deadletters", "retry", str(gone), "-c", config)
    assert code == 0, out
    assert f"dead letter {gone} is already resolved; left as it is" in out
    assert "0 dead letters queued" in out
    again = tandem_json("deadletters", "list", "-c", config, "--status", "resolved")
    assert gone in [d["id"] for d in again]


def test_reconcile_reports_drift_heal_repairs_it_and_then_there_is_none(env: Env) -> None:
    # A valid NIP for the demo's bad customer: the systems start out fully agreed.
    env.fix_the_bad_nip()
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    assert tandem_json("reconcile", "-c", config)["differences"] == 0

    product = crm_one(env, "SELECT Id, Name FROM Product2 WHERE ERP_Id__c = '3'")
    account = crm_one(env, "SELECT Id, BillingCity FROM Account WHERE ERP_Id__c = '5'")
    env.crm.org.update("Product2", str(product["Id"]), {"Name": "Edited behind our back"})
    env.crm.org.update("Account", str(account["Id"]), {"BillingCity": "Nowhere"})

    code, out = tandem("reconcile", "-c", config)
    assert code == 1, out  # as with diff: differences found
    assert out.splitlines()[-1] == "2 differences"
    by_entity = {row["entity"]: row for row in table_rows(out)}
    assert by_entity["product"]["differences"] == "differs: 1"
    assert by_entity["customer"]["differences"] == "differs: 1"
    drift_lines = [line for line in out.splitlines() if line.startswith("  differs:")]
    assert len(drift_lines) == 2
    product_line = next(line for line in drift_lines if " product erp=3 " in line)
    assert f"crm={product['Id']}" in product_line
    assert "'name'" in product_line and "Edited behind our back" in product_line
    assert str(product["Name"]) in product_line  # the ERP's value beside the CRM's
    customer_line = next(line for line in drift_lines if " customer erp=5 " in line)
    assert "'billing_address.city'" in customer_line and "Nowhere" in customer_line
    # Reporting repairs nothing.
    assert crm_one(env, "SELECT Name FROM Product2 WHERE ERP_Id__c = '3'")["Name"] == (
        "Edited behind our back"
    )

    code, out = tandem("reconcile", "-c", config, "--heal")
    assert code == 0, out
    assert out.splitlines()[-1] == (
        "2 differences, 2 queued for repair: 2 written, 0 dead-lettered"
    )
    erp_name = env.erp_rows("SELECT name FROM products WHERE id = 3")[0][0]
    erp_city = env.erp_rows("SELECT city FROM customers WHERE id = 5")[0][0]
    assert crm_one(env, "SELECT Name FROM Product2 WHERE ERP_Id__c = '3'")["Name"] == erp_name
    city = crm_one(env, "SELECT BillingCity FROM Account WHERE ERP_Id__c = '5'")["BillingCity"]
    assert city == erp_city
    assert (erp_name, erp_city) == (product["Name"], account["BillingCity"])  # the ERP kept its

    code, out = tandem("reconcile", "-c", config)
    assert code == 0, out
    assert out.splitlines()[-1] == "0 differences"
    assert tandem_json("reconcile", "-c", config)["differences"] == 0


ERP_PHONE = "+48 100 200 300"
CRM_PHONE = "+48 900 800 700"
TYPED_PHONE = "+48 555 000 111"


@pytest.mark.parametrize(
    ("choice", "kept"),
    [(("--erp",), ERP_PHONE), (("--value", TYPED_PHONE), TYPED_PHONE)],
    ids=["erp", "value"],
)
def test_conflicts_resolve_by_erp_or_value_lands_in_both_systems(
    env: Env, choice: tuple[str, ...], kept: str
) -> None:
    env.flow(**{"conflict: newest_wins": "conflict: manual"})
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    env.erp("UPDATE customers SET phone = :phone WHERE id = 3", phone=ERP_PHONE)
    account = crm_one(env, "SELECT Id FROM Account WHERE ERP_Id__c = '3'")
    env.crm.org.update("Account", str(account["Id"]), {"Phone": CRM_PHONE})
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    conflicts = tandem_json("conflicts", "list", "-c", config)
    assert [(c["field"], c["erp_value"], c["crm_value"]) for c in conflicts] == [
        ("phone", ERP_PHONE, CRM_PHONE)
    ]
    conflict = str(conflicts[0]["id"])

    code, out = tandem("conflicts", "resolve", conflict, "-c", config, "--erp", "--crm")
    assert code == 2 and "exactly one of --erp, --crm, --value" in out
    assert len(tandem_json("conflicts", "list", "-c", config)) == 1

    code, out = tandem("conflicts", "resolve", conflict, "-c", config, *choice)
    assert code == 0, out
    assert f"conflict {conflict} resolved ({choice[0][2:]})" in out and repr(kept) in out
    code, out = tandem("sync", "-c", config, "--no-progress")
    assert code == 0, out
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 3")[0][0] == kept
    assert crm_one(env, "SELECT Phone FROM Account WHERE ERP_Id__c = '3'")["Phone"] == kept
    assert tandem_json("conflicts", "list", "-c", config) == []
    resolved = tandem_json("conflicts", "list", "-c", config, "--status", "resolved")
    assert [(c["id"], c["resolved_value"]) for c in resolved] == [(int(conflict), kept)]


def test_plan_shows_per_entity_and_field_what_would_change_and_writes_nothing(
    env: Env,
) -> None:
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    account = crm_one(env, "SELECT Id, Phone, BillingCity FROM Account WHERE ERP_Id__c = '4'")
    contact = crm_one(env, "SELECT Id, Title FROM Contact WHERE ERP_Id__c = '3'")
    erp_title = env.erp_rows("SELECT title FROM contacts WHERE id = 3")[0][0]
    env.erp("UPDATE customers SET phone = '+48 123 456 789', city = 'Gdynia' WHERE id = 4")
    env.crm.org.update("Contact", str(contact["Id"]), {"Title": "Head of Procurement"})

    code, out = tandem("plan", "-c", config)
    assert code == 0, out
    assert "plan (dry run: nothing written)" in out
    assert "planned writes" in out and "first 20 of" not in out  # all 2 shown
    rows = table_rows(out)
    per_field = {
        (row["entity"], row["write to"], row["field"]): row["records"]
        for row in rows
        if "field" in row
    }
    assert per_field == {
        ("customer", "crm", "phone"): "1",
        ("customer", "crm", "billing_address.city"): "1",
        ("contact", "erp", "title"): "1",
    }
    planned = {
        (row["entity"], row["write to"], row["action"], row["source key"], row["target key"]): row[
            "fields"
        ]
        for row in rows
        if "action" in row
    }
    assert set(planned) == {
        ("customer", "crm", "update", "4", str(account["Id"])),
        ("contact", "erp", "update", str(contact["Id"]), "3"),
    }
    customer_fields = planned[("customer", "crm", "update", "4", str(account["Id"]))]
    assert "phone='+48 123 456 789'" in customer_fields
    assert "billing_address.city='Gdynia'" in customer_fields
    contact_fields = planned[("contact", "erp", "update", str(contact["Id"]), "3")]
    assert contact_fields == "title='Head of Procurement'"

    # Nothing written, and nothing taken as done: both systems as they were, the same plan.
    soql = f"SELECT Id, Phone, BillingCity FROM Account WHERE Id = '{account['Id']}'"
    assert crm_one(env, soql) == account
    assert env.erp_rows("SELECT title FROM contacts WHERE id = 3")[0][0] == erp_title
    code, again = tandem("plan", "-c", config)
    assert code == 0, again
    assert [row for row in table_rows(again) if "action" in row or "field" in row] == [
        row for row in rows if "action" in row or "field" in row
    ]


def test_sync_and_reconcile_show_their_progress(env: Env) -> None:
    config = str(env.config)
    code, out = tandem("sync", "-c", config)
    assert code == 0, out
    # one line per entity and direction: what was read, written and failed
    assert re.search(r"customer erp→crm .*20 read · 19 written · 1 failed", out), out
    code, out = tandem("reconcile", "-c", config)
    assert code == 1, out  # the demo's customer with a bad NIP and its contacts differ
    assert re.search(r"customer \(erp\) .*20 records compared", out), out
    assert re.search(r"contact \(crm\) .*38 records compared", out), out
    code, out = tandem("reconcile", "-c", config, "--no-progress")
    assert code == 1 and "records compared" not in out


def test_an_unknown_entity_or_status_is_an_error_not_an_empty_answer(env: Env) -> None:
    config = str(env.config)
    for command in (("plan",), ("sync", "--no-progress"), ("reconcile",)):
        code, out = tandem(*command, "-e", "nosuch", "-c", config)
        assert code == 2, out
        assert "has no entity 'nosuch'" in out and "customer" in out
    code, out = tandem("deadletters", "list", "--status", "bogus", "-c", config)
    assert code == 1, out
    assert "bogus" in out and "Traceback" not in out
