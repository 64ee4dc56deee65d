"""CRM -> ERP delivery while the sandbox misbehaves on reads: 5xx answers, expiring sessions."""

from __future__ import annotations

import random
from collections import Counter

from sandbox_faults import FAST_RETRIES, answers, injected
from tandem_env import Env

from tandem.demo.erp import nip
from tandem.pipeline.runtime import running_engine

ROUNDS = 8
"""Passes under faults, each after new CRM records and edits (a pass makes ~12 calls)."""
CONTACTS_PER_ROUND = 15
EDITS_PER_ROUND = 3


async def test_crm_records_reach_the_erp_exactly_once_through_read_faults(env: Env) -> None:
    flow = env.flow(**FAST_RETRIES)
    org = env.crm.org
    rng = random.Random(5)
    new_contacts: dict[str, tuple[str, int]] = {}  # CRM id -> (email, ERP customer id)
    new_accounts: dict[str, tuple[str, str]] = {}  # CRM id -> (number, tax id)
    titles: dict[int, str] = {}  # ERP contact id -> the title set in the CRM
    async with running_engine(flow) as engine:
        await engine.sync()  # the initial load, no faults
        contacts_before = _count(env, "contacts")
        customers_before = _count(env, "customers")
        accounts = {
            int(str(a["ERP_Id__c"])): str(a["Id"])
            for a in env.crm_rows("SELECT Id, ERP_Id__c FROM Account")
        }
        customers = sorted(accounts)
        linked = sorted(
            (int(str(c["ERP_Id__c"])), str(c["Id"]))
            for c in env.crm_rows("SELECT Id, ERP_Id__c FROM Contact")
        )
        reads_before = answers(env.crm, "GET")
        env.crm.set_faults(
            {
                "seed": 3,
                "error_rates": {"500": 0.12, "503": 0.12},
                "retry_after_s": 0,
                "expire_every": 7,
            }
        )
        created = 0
        for round_no in range(ROUNDS):
            for _ in range(CONTACTS_PER_ROUND):
                n = len(new_contacts)
                customer = customers[n % len(customers)]
                email = f"crm.only.{n}@example.com"
                crm_id = org.create(
                    "Contact",
                    {
                        "FirstName": "Ada",
                        "LastName": f"Fromcrm{n}",
                        "Email": email,
                        "AccountId": accounts[customer],
                    },
                )
                new_contacts[crm_id] = (email, customer)
            number, tax_id = f"C-CRM-{round_no}", nip(rng)
            crm_id = org.create(
                "Account",
                {"Name": f"Crm Only {round_no} S.A.", "AccountNumber": number, "Tax_Id__c": tax_id},
            )
            new_accounts[crm_id] = (number, tax_id)
            start = round_no * EDITS_PER_ROUND
            for erp_id, contact_id in linked[start : start + EDITS_PER_ROUND]:
                titles[erp_id] = f"Buyer no. {erp_id}"
                org.update("Contact", contact_id, {"Title": titles[erp_id]})
            report = await engine.sync()  # a pass under faults must still finish
            created += report.total("created")
        faults = injected(env.crm)  # read before clear_faults() resets the counters
        env.crm.clear_faults()
        settled = await engine.sync()

    assert faults["http"] >= 1 and faults["expire"] >= 1, faults
    reads = answers(env.crm, "GET") - reads_before  # the faulted passes' reads alone
    assert reads[500] + reads[503] >= 1 and reads[401] >= 1, reads

    rows = env.erp_rows(
        "SELECT id, customer_id, email, crm_id FROM contacts WHERE email LIKE 'crm.only.%'"
    )
    assert Counter(crm_id for *_, crm_id in rows) == Counter(set(new_contacts))  # each once
    assert {crm_id: (email, customer) for _, customer, email, crm_id in rows} == new_contacts
    back_links = {
        str(c["Id"]): c["ERP_Id__c"]
        for c in env.crm_rows("SELECT Id, ERP_Id__c FROM Contact WHERE Email LIKE 'crm.only.%'")
    }
    assert back_links == {crm_id: str(erp_id) for erp_id, _, _, crm_id in rows}

    customer_rows = env.erp_rows(
        "SELECT number, nip, crm_id FROM customers WHERE number LIKE 'C-CRM-%'"
    )
    assert Counter(crm_id for *_, crm_id in customer_rows) == Counter(set(new_accounts))
    assert {crm_id: (number, tax) for number, tax, crm_id in customer_rows} == new_accounts

    edited = ",".join(map(str, titles))
    assert dict(env.erp_rows(f"SELECT id, title FROM contacts WHERE id IN ({edited})")) == titles
    assert _count(env, "contacts") == contacts_before + len(new_contacts)
    assert _count(env, "customers") == customers_before + len(new_accounts)
    assert created == len(new_contacts) + len(new_accounts)
    assert settled.writes == 0  # nothing arrives a second time once the faults stop


def _count(env: Env, table: str) -> int:
    return int(str(env.erp_rows(f"SELECT COUNT(*) FROM {table}")[0][0]))
