"""``tandem conflicts`` as a person types it: drop closes a conflict without writing,
resolve on a deleted record closes it as moot, and --erp writes the ERP's value of now."""

from __future__ import annotations

from datetime import datetime

from cli_run import tandem, tandem_json
from tandem_env import Env

from tandem.config import load_flow
from tandem.pipeline.runtime import open_store

ERP_PHONE = "+48 100 200 300"
CRM_PHONE = "+48 900 800 700"
ERP_LATER = "+48 100 999 999"


def crm_phone(env: Env, erp_id: int) -> object:
    (row,) = env.crm_rows(f"SELECT Phone FROM Account WHERE ERP_Id__c = '{erp_id}'")
    return row["Phone"]


def erp_phone(env: Env, erp_id: int) -> object:
    return env.erp_rows("SELECT phone FROM customers WHERE id = :id", id=erp_id)[0][0]


def raise_conflict(env: Env, erp_id: int = 3) -> tuple[int, str]:
    """The phone of customer ``erp_id`` edited on both sides: its conflict's id, CRM key."""
    env.flow(**{"conflict: newest_wins": "conflict: manual"})
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    env.erp("UPDATE customers SET phone = :phone WHERE id = :id", phone=ERP_PHONE, id=erp_id)
    (account,) = env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{erp_id}'")
    env.crm.org.update("Account", str(account["Id"]), {"Phone": CRM_PHONE})
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    (conflict,) = tandem_json("conflicts", "list", "-c", config)
    assert (conflict["field"], conflict["erp_value"], conflict["crm_value"]) == (
        "phone",
        ERP_PHONE,
        CRM_PHONE,
    )
    return int(conflict["id"]), str(account["Id"])


def test_drop_closes_a_conflict_without_writing_and_names_unknown_and_closed_ids(
    env: Env,
) -> None:
    conflict, crm_key = raise_conflict(env)
    config = str(env.config)

    code, out = tandem("conflicts", "drop", "-c", config)
    assert code == 2  # an id is required: no drop-everything by accident

    code, out = tandem("conflicts", "drop", str(conflict), "999999", "-c", config)
    assert code == 1, out
    assert "has no conflict 999999" in out and "1 conflicts dropped" in out
    assert tandem_json("conflicts", "list", "-c", config) == []
    (closed,) = tandem_json("conflicts", "list", "-c", config, "--status", "resolved")
    assert (closed["id"], closed["resolution"], closed["resolved_value"]) == (
        conflict,
        "dropped",
        None,
    )
    code, out = tandem("conflicts", "list", "-c", config, "--status", "all")
    assert code == 0 and "dropped" in out
    # nothing written: each system keeps its own value
    assert (erp_phone(env, 3), crm_phone(env, 3)) == (ERP_PHONE, CRM_PHONE)

    code, out = tandem("conflicts", "drop", str(conflict), "-c", config)
    assert code == 0, out
    assert f"conflict {conflict} is already closed (dropped)" in out
    assert "0 conflicts dropped" in out

    store = open_store(load_flow(env.config))
    try:
        entries = store.audit_log(entity="customer", limit=500)
    finally:
        store.close()
    drops = {e.target: e for e in entries if e.action == "drop"}
    assert {t: (e.record_key, e.before, e.cause) for t, e in drops.items()} == {
        "erp": ("3", {"phone": ERP_PHONE}, f"conflict:{conflict}:dropped"),
        "crm": (crm_key, {"phone": CRM_PHONE}, f"conflict:{conflict}:dropped"),
    }


def test_resolve_on_a_record_deleted_in_the_crm_closes_it_and_writes_nothing(
    env: Env,
) -> None:
    conflict, crm_key = raise_conflict(env)
    config = str(env.config)
    env.crm.org.delete("Account", crm_key)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0

    code, out = tandem("conflicts", "resolve", str(conflict), "-c", config, "--crm")
    assert code == 0, out
    assert f"conflict {conflict} closed (deleted)" in out
    assert "gone from the CRM" in out and "nothing written" in out
    # the old code wrote the CRM's value to the ERP, then failed on the deleted account
    assert erp_phone(env, 3) == ERP_PHONE
    assert tandem_json("conflicts", "list", "-c", config) == []
    (closed,) = tandem_json("conflicts", "list", "-c", config, "--status", "resolved")
    assert closed["resolution"] == "deleted"

    code, out = tandem("conflicts", "resolve", str(conflict), "-c", config, "--crm")
    assert code == 1 and "already closed (deleted)" in out and "config error" not in out


def test_resolve_erp_writes_the_erps_value_of_now_and_says_it_changed(env: Env) -> None:
    conflict, _ = raise_conflict(env)
    config = str(env.config)
    env.erp("UPDATE customers SET phone = :phone WHERE id = 3", phone=ERP_LATER)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0  # the field stays held
    assert crm_phone(env, 3) == CRM_PHONE

    code, out = tandem("conflicts", "list", "-c", config)
    assert code == 0 and "the values when raised" in out

    code, out = tandem("conflicts", "resolve", str(conflict), "-c", config, "--erp")
    assert code == 0, out
    assert f"{ERP_PHONE!r} -> {ERP_LATER!r}" in out
    assert f"conflict {conflict} resolved (erp)" in out and repr(ERP_LATER) in out
    assert erp_phone(env, 3) == crm_phone(env, 3) == ERP_LATER
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    assert erp_phone(env, 3) == crm_phone(env, 3) == ERP_LATER


def test_list_current_shows_what_each_system_holds_now(env: Env) -> None:
    conflict, crm_key = raise_conflict(env)
    config = str(env.config)
    env.erp("UPDATE customers SET phone = :phone WHERE id = 3", phone=ERP_LATER)

    (listed,) = tandem_json("conflicts", "list", "-c", config, "--current")
    assert (listed["erp_value"], listed["crm_value"]) == (ERP_PHONE, CRM_PHONE)  # when raised
    erp_now, crm_now = listed.pop("erp_now"), listed.pop("crm_now")
    assert datetime.fromisoformat(erp_now.pop("modified_at")).tzinfo is not None
    assert datetime.fromisoformat(crm_now.pop("modified_at")).tzinfo is not None
    assert erp_now == {"state": "value", "value": ERP_LATER, "message": ""}
    assert crm_now == {"state": "value", "value": CRM_PHONE, "message": ""}
    code, out = tandem("conflicts", "list", "-c", config, "--current")
    assert code == 0, out
    assert "erp now" in out and repr(ERP_LATER) in out
    assert "erp now" not in tandem("conflicts", "list", "-c", config)[1]  # read only when asked

    env.crm.org.delete("Account", crm_key)
    (gone,) = tandem_json("conflicts", "list", "-c", config, "--current")
    assert gone["id"] == conflict and gone["crm_now"]["state"] == "gone"
    assert "(gone)" in tandem("conflicts", "list", "-c", config, "--current")[1]
    # nothing was written by listing
    assert erp_phone(env, 3) == ERP_LATER
