"""``tandem reconcile --heal`` lists what is still drifting after its repair pass, read from
both systems, and exits 1 while anything is; 0 once both systems agree."""

from __future__ import annotations

from cli_run import tandem, tandem_json
from tandem_env import UPPERCASE_TITLES, Env


def agreed(env: Env) -> str:
    """Sync the demo with its bad NIP fixed: both systems agree. The config's path."""
    env.fix_the_bad_nip()
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    assert tandem_json("reconcile", "-c", config, "--no-progress")["differences"] == 0
    return config


def edit_product_in_the_crm(env: Env) -> str:
    """Rename product 3 in the CRM behind Tandem's back; its name as the ERP holds it."""
    (product,) = env.crm_rows("SELECT Id, Name FROM Product2 WHERE ERP_Id__c = '3'")
    env.crm.org.update("Product2", str(product["Id"]), {"Name": "Edited behind our back"})
    return str(product["Name"])


def test_heal_lists_a_repair_the_erp_rewrote_and_exits_1(env: Env) -> None:
    config = agreed(env)
    contact = next(
        c
        for c in env.crm_rows("SELECT Id, Title, ERP_Id__c FROM Contact ORDER BY ERP_Id__c")
        if str(c["Title"]) != str(c["Title"]).upper()
    )
    edit_product_in_the_crm(env)
    env.erp("UPDATE contacts SET title = 'Edited' WHERE id = :id", id=contact["ERP_Id__c"])
    env.erp(UPPERCASE_TITLES)  # the ERP keeps every title in capitals from now on

    code, out = tandem("reconcile", "-c", config, "--no-progress", "--heal")

    assert code == 1, out
    lines = out.splitlines()
    # written without a refusal (the contact twice: the trigger's rewrite is reverted once)
    assert lines[-1].startswith("2 differences, 2 queued for repair: ")
    assert lines[-1].endswith(" written, 0 dead-lettered; 1 not repaired")
    listed = lines[lines.index("still drifting after the repair pass:") + 1 : -1]
    assert len(listed) == 1, out
    (line,) = listed
    assert line.startswith(f"  differs: contact erp={contact['ERP_Id__c']} crm={contact['Id']} ")
    assert "'title'" in line and str(contact["Title"]).upper() in line
    # The drifts found before the repair are listed above it, as without --heal.
    found = lines[: lines.index("still drifting after the repair pass:")]
    assert sum(x.startswith("  differs: ") for x in found) == 2

    # Nothing repairs the title while the trigger stays: --json says the same, exit 1.
    healing = tandem_json("reconcile", "-c", config, "--no-progress", "--heal", code=1)
    assert (healing["differences"], healing["healed"], healing["remaining"]) == (1, 1, 1)
    (left,) = healing["still_drifting"]
    assert (left["entity"], left["kind"], left["erp_key"], left["crm_key"]) == (
        "contact",
        "differs",
        str(contact["ERP_Id__c"]),
        contact["Id"],
    )
    assert left["fields"] == {"title": [str(contact["Title"]).upper(), contact["Title"]]}


def test_heal_that_repairs_everything_lists_nothing_and_exits_0(env: Env) -> None:
    config = agreed(env)
    erp_name = edit_product_in_the_crm(env)

    code, out = tandem("reconcile", "-c", config, "--no-progress", "--heal")

    assert code == 0, out
    assert out.splitlines()[-1] == "1 differences, 1 queued for repair: 1 written, 0 dead-lettered"
    assert "still drifting" not in out and "not repaired" not in out
    (product,) = env.crm_rows("SELECT Name FROM Product2 WHERE ERP_Id__c = '3'")
    assert product["Name"] == erp_name
    again = tandem_json("reconcile", "-c", config, "--no-progress", "--heal")
    assert (again["differences"], again["remaining"], again["still_drifting"]) == (0, 0, [])
