"""First linking by match key when the target's record holds some other value the mapping
refuses: it is still the same customer, and must be linked, not created a second time."""

from __future__ import annotations

from typing import Any

import pytest
from tandem_env import Env
from typer.testing import CliRunner

from tandem.cli import app
from tandem.sandbox.salesforce.errors import RecordError

BAD_PHONE = "+1 2"  # too short: the canonical model refuses it
GOOD_PHONE = "+48 500 600 700"


def tandem(*args: str) -> tuple[int, str]:
    """Run ``tandem ARGS...`` as a user types it: its exit code and output."""
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))
    return result.exit_code, result.output


def accounts_with_tax_id(env: Env, tax_id: str) -> list[dict[str, object]]:
    return env.crm_rows(f"SELECT Id, Name, ERP_Id__c FROM Account WHERE Tax_Id__c = '{tax_id}'")


def test_an_existing_account_with_an_unmappable_field_is_linked_by_its_tax_id(env: Env) -> None:
    ((tax_id,),) = env.erp_rows("SELECT nip FROM customers WHERE id = 2")
    account = env.crm.org.create(
        "Account", {"Name": "Novamet (CRM)", "Tax_Id__c": tax_id, "Phone": BAD_PHONE}
    )
    config = str(env.config)

    code, out = tandem("sync", "-c", config, "--no-progress")
    assert code == 0, out
    # linked to the account that was there, not created a second time beside it
    assert [a["Id"] for a in accounts_with_tax_id(env, str(tax_id))] == [account]
    ((erp_customers,),) = env.erp_rows("SELECT count(*) FROM customers")

    env.crm.org.update("Account", account, {"Phone": GOOD_PHONE})
    for _ in range(2):
        code, out = tandem("sync", "-c", config, "--no-progress")
        assert code == 0, out
    # fixed in the CRM, it is customer 2's account: no second customer in the ERP
    assert env.erp_rows("SELECT count(*) FROM customers") == [(erp_customers,)]
    assert env.erp_rows("SELECT crm_id FROM customers WHERE nip = :n", n=tax_id) == [(account,)]
    (row,) = accounts_with_tax_id(env, str(tax_id))
    assert row["ERP_Id__c"] == "2"


def test_a_matched_account_whose_update_is_refused_stays_linked(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    ((tax_id,),) = env.erp_rows("SELECT nip FROM customers WHERE id = 2")
    account = env.crm.org.create("Account", {"Name": "Novamet (CRM)", "Tax_Id__c": tax_id})
    writer = env.crm.org._writer
    update = writer.update

    def validation_rule(table: Any, record_id: str, values: dict[str, Any]) -> Any:
        if record_id == account:  # a validation rule of the org refuses this account's edit
            raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Name is locked")
        return update(table, record_id, values)

    monkeypatch.setattr(writer, "update", validation_rule)
    # one way: no read of the CRM's accounts matches it back from the other side
    env.flow(
        **{
            "model: customer\n    direction: both": "model: customer\n    direction: erp_to_crm",
            "crm: Phone, owner: both}": "crm: Phone}",
        }
    )
    config = str(env.config)
    code, out = tandem("sync", "-c", config, "--no-progress")
    assert code == 0, out
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in tandem("deadletters", "list", "-c", config)[1]

    monkeypatch.setattr(writer, "update", update)  # the rule lifted: the record tried again
    env.erp("UPDATE customers SET city = 'Kraków' WHERE id = 2")
    for _ in range(2):
        code, out = tandem("sync", "-c", config, "--no-progress")
        assert code == 0, out
    (row,) = accounts_with_tax_id(env, str(tax_id))
    assert (row["Id"], row["ERP_Id__c"]) == (account, "2")
    assert env.erp_rows("SELECT count(*) FROM customers WHERE nip = :n", n=tax_id) == [(1,)]
