"""The ``tandem`` commands, driven as a user types them, against real systems."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from cli_run import tandem
from tandem_env import Env

from tandem.demo.erp import BAD_NIP_CUSTOMER
from tandem.store import StateStore


def test_schema_prints_the_json_schema() -> None:
    code, out = tandem("schema")
    assert code == 0
    schema = json.loads(out)
    assert "entities" in schema["properties"]


def test_check_passes_and_a_bad_config_names_file_line_and_field(env: Env) -> None:
    code, out = tandem("check", "-c", str(env.config))
    assert code == 0, out
    assert "fits both systems" in out
    text = env.config.read_text(encoding="utf-8").replace(
        "direction: both", "direction: sideways", 1
    )
    bad = env.folder / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "sideways" in row)
    code, out = tandem("check", "-c", str(bad))
    assert code == 2
    assert f"bad.yaml:{line}" in out.replace("\n", "")
    assert "direction" in out


def check_problem(env: Env, replace: dict[str, str], marker: str) -> tuple[str, str]:
    """Run ``tandem check`` on the flow edited by ``replace``; expect it to fail.

    Returns:
        The output, and ``<file>:<line>:`` of the first line of the edited flow holding
        ``marker`` (where ``check`` must place the problem).
    """
    env.flow(**replace)
    text = env.config.read_text(encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if marker in row)
    code, out = tandem("check", "-c", str(env.config))
    assert code == 1, out
    return out, f"{env.config}:{line}:"


def test_check_reports_a_field_the_crm_does_not_have(env: Env) -> None:
    out, where = check_problem(env, {"crm: Tax_Id__c": "crm: Tax_Number__c"}, "Tax_Number__c")
    assert (
        f"{where} entities.customer.fields[2].crm: crm Account: unknown field 'Tax_Number__c'"
        in out
    ), out


def test_check_reports_a_value_the_restricted_picklist_lacks(env: Env) -> None:
    out, where = check_problem(
        env,
        {
            "value_maps:\n": (
                "value_maps:\n  kinds:\n    pairs: {product: product, service: Labour}\n"
            ),
            "crm: Kind__c}": "crm: Kind__c, value_map: kinds}",
        },
        "value_map: kinds}",
    )
    assert (
        f"{where} entities.product.fields[3].crm: crm Product2: value map kinds can produce"
        " 'Labour', not in the restricted picklist Kind__c" in out
    ), out


def test_check_reports_a_field_of_the_wrong_type(env: Env) -> None:
    out, where = check_problem(
        env, {"crm: Credit_Hold__c": "crm: AnnualRevenue"}, "crm: AnnualRevenue"
    )
    assert (
        f"{where} entities.customer.fields[8].crm: crm Account: credit_hold is a bool but"
        " AnnualRevenue is currency" in out
    ), out


def test_plan_writes_nothing_then_sync_status_and_dead_letters(env: Env) -> None:
    code, out = tandem("plan", "-c", str(env.config), "--json")
    assert code == 0, out
    planned = json.loads(out)
    assert planned["counts"]["customer"]["erp->crm"]["created"] == 19
    assert any(p["entity"] == "product" and p["action"] == "create" for p in planned["planned"])
    per_field = {(f["entity"], f["target"], f["field"]): f["records"] for f in planned["fields"]}
    assert per_field[("customer", "crm", "tax_id")] == 19
    assert per_field[("product", "crm", "category")] == 40
    assert env.crm_rows("SELECT Id FROM Account") == []

    code, out = tandem("sync", "-c", str(env.config), "--json")
    assert code == 0, out
    assert json.loads(out)["counts"]["product"]["erp->crm"]["created"] == 40
    assert len(env.crm_rows("SELECT Id FROM Account")) == 19

    code, out = tandem("status", "-c", str(env.config), "--json")
    assert code == 0, out
    stats = json.loads(out)
    assert stats["open_dead_letters"] == 3
    # Instants in ISO 8601, cursors as their instant and key: readable by any JSON client.
    datetime.fromisoformat(stats["last_audit_at"])
    cursors = [value for value in _leaves(stats["cursors"]) if isinstance(value, dict)]
    assert cursors and all(set(c) == {"modified_at", "key"} for c in cursors)
    for cursor in cursors:
        assert datetime.fromisoformat(cursor["modified_at"]).tzinfo is not None

    code, out = tandem("deadletters", "list", "-c", str(env.config), "--json")
    letters = json.loads(out)
    nip_letter = next(d for d in letters if d["entity"] == "customer")
    assert nip_letter["record_key"] == str(BAD_NIP_CUSTOMER) and nip_letter["field"] == "tax_id"

    env.fix_the_bad_nip()
    code, out = tandem("deadletters", "retry", "-c", str(env.config))
    assert code == 0 and "3 dead letters queued" in out
    code, out = tandem("sync", "-c", str(env.config), "--json")
    assert code == 0, out
    assert len(env.crm_rows("SELECT Id FROM Account")) == 20
    assert len(env.crm_rows("SELECT Id FROM Contact")) == 40
    code, out = tandem("deadletters", "list", "-c", str(env.config), "--json")
    assert json.loads(out) == []

    code, out = tandem("reconcile", "-c", str(env.config), "--json")
    assert code == 0, out
    assert json.loads(out)["differences"] == 0


def test_conflicts_list_and_resolve(env: Env) -> None:
    env.flow(**{"conflict: newest_wins": "conflict: manual"})
    assert tandem("sync", "-c", str(env.config), "--no-progress")[0] == 0
    env.erp("UPDATE customers SET phone = '+48 100 200 300' WHERE id = 3")
    account = env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '3'")[0]
    env.crm.org.update("Account", str(account["Id"]), {"Phone": "+48 900 800 700"})
    assert tandem("sync", "-c", str(env.config), "--no-progress")[0] == 0
    code, out = tandem("conflicts", "list", "-c", str(env.config), "--json")
    conflicts = json.loads(out)
    assert [(c["field"], c["erp_value"], c["crm_value"]) for c in conflicts] == [
        ("phone", "+48 100 200 300", "+48 900 800 700")
    ]
    code, out = tandem(
        "conflicts", "resolve", str(conflicts[0]["id"]), "-c", str(env.config), "--crm"
    )
    assert code == 0, out
    assert env.erp_rows("SELECT phone FROM customers WHERE id = 3")[0][0] == "+48 900 800 700"
    code, out = tandem("conflicts", "list", "-c", str(env.config), "--json")
    assert json.loads(out) == []


def test_secrets_never_reach_the_output(env: Env) -> None:
    code, out = tandem("sync", "-c", str(env.config), "-v", "--no-progress")
    assert code == 0, out
    assert env.crm.password not in out and env.crm.client_secret not in out


def test_store_migrate_copy_and_prune(env: Env, tmp_path: Path) -> None:
    assert tandem("sync", "-c", str(env.config), "--no-progress")[0] == 0
    assert tandem("store", "migrate", "-c", str(env.config))[0] == 0
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    code, out = tandem("store", "copy", target, "-c", str(env.config))
    assert code == 0, out
    copied = StateStore(target)
    try:
        assert copied.count_links("customer") == 19
        assert copied.partner("customer", "erp", "1") is not None
    finally:
        copied.close()
    code, out = tandem("store", "prune", "-c", str(env.config), "--audit-days", "0")
    assert code == 0, out
    assert int(out.split()[0]) > 0


def test_install_capture_on_a_fresh_erp(env: Env) -> None:
    code, out = tandem("erp", "install-capture", "-c", str(env.config))
    assert code == 0, out
    assert "change capture on customers" in out


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    code, out = tandem("demo", "--dir", str(tmp_path / "demo"), "--customers", "20")
    assert code == 0, out
    assert "0 writes" in out
    assert "invalid NIP checksum" in out


def test_sync_refuses_while_another_agent_holds_the_flow(env: Env) -> None:
    flow = env.flow()
    store = StateStore(flow.state_url())
    store.migrate()
    store.acquire_lease("flow:demo", "other-host:4242:cafe", 600)
    try:
        code, out = tandem("sync", "-c", str(env.config), "--no-progress")
        assert code == 1
        assert "being synced by other-host:4242:cafe" in out.replace("\n", "")
        assert tandem("plan", "-c", str(env.config))[0] == 0  # reading is still allowed
    finally:
        store.release_lease("flow:demo", "other-host:4242:cafe")
        store.close()
    assert tandem("sync", "-c", str(env.config), "--no-progress")[0] == 0


def test_a_bad_connector_setting_names_file_line_and_field(env: Env) -> None:
    text = env.config.read_text(encoding="utf-8").replace("auth_flow: password", "auth_flow: pwd")
    env.config.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "auth_flow: pwd" in row)
    code, out = tandem("check", "-c", str(env.config))
    assert code == 2
    flat = out.replace("\n", "")
    assert f"tandem.yaml:{line}: connections.crm.auth_flow" in flat
    assert "'password'" in flat


def _leaves(value: Any) -> list[Any]:
    """The values of nested dicts, a dict holding ``modified_at`` counted as one value."""
    if isinstance(value, dict) and "modified_at" not in value:
        return [leaf for inner in value.values() for leaf in _leaves(inner)]
    return [value]
