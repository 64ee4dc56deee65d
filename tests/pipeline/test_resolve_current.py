"""Resolving a manual conflict: ``erp``/``crm`` take the value that system holds *now*; a
conflict whose record was deleted since is closed as moot, with nothing written; a refusal
after the first write is reported and leaves the conflict open."""

from __future__ import annotations

import pytest
from tandem_env import Env

from tandem.config import FlowSpec
from tandem.pipeline.engine import Engine
from tandem.pipeline.resolve import NotResolvable, PartialResolution, apply_resolution
from tandem.pipeline.runtime import running_engine
from tandem.store import Conflict

MANUAL = {"conflict: newest_wins": "conflict: manual"}
ERP_PHONE = "+48 111 000 030"
CRM_PHONE = "+48 222 000 030"
ERP_LATER = "+48 111 999 999"
CRM_LATER = "+48 222 999 999"


def account(env: Env, erp_id: int) -> dict[str, object]:
    (row,) = env.crm_rows(f"SELECT Id, Phone FROM Account WHERE ERP_Id__c = '{erp_id}'")
    return row


def erp_phone(env: Env, erp_id: int) -> object:
    rows = env.erp_rows("SELECT phone FROM customers WHERE id = :id", id=erp_id)
    return rows[0][0] if rows else None


async def raise_conflict(env: Env, engine: Engine, flow: FlowSpec, erp_id: int = 2) -> Conflict:
    """Phone edited on both sides of customer ``erp_id``: one open manual conflict."""
    await engine.sync()
    crm_key = str(account(env, erp_id)["Id"])
    env.erp("UPDATE customers SET phone = :p WHERE id = :id", p=ERP_PHONE, id=erp_id)
    env.crm.org.update("Account", crm_key, {"Phone": CRM_PHONE})
    await engine.sync()
    (conflict,) = engine.store.conflicts(flow=flow.name, status="open")
    assert (conflict.field, conflict.erp_value, conflict.crm_value) == (
        "phone",
        ERP_PHONE,
        CRM_PHONE,
    )
    return conflict


@pytest.mark.parametrize("side", ["erp", "crm"])
async def test_resolve_keeps_the_value_the_chosen_system_holds_now(any_env: Env, side: str) -> None:
    env = any_env
    flow = env.flow(**MANUAL)
    async with running_engine(flow) as engine:
        conflict = await raise_conflict(env, engine, flow)
        crm_key = str(account(env, 2)["Id"])
        # the chosen system's user edits the held field again; a pass leaves it held
        if side == "erp":
            env.erp("UPDATE customers SET phone = :p WHERE id = 2", p=ERP_LATER)
        else:
            env.crm.org.update("Account", crm_key, {"Phone": CRM_LATER})
        await engine.sync()
        assert erp_phone(env, 2) == (ERP_LATER if side == "erp" else ERP_PHONE)
        later = ERP_LATER if side == "erp" else CRM_LATER

        result = await apply_resolution(engine, conflict.id, side)  # type: ignore[arg-type]
        assert erp_phone(env, 2) == account(env, 2)["Phone"] == later
        assert result.gone == ()
        assert result.changed == {side: ((ERP_PHONE if side == "erp" else CRM_PHONE), later)}
        assert (result.conflict.resolution, result.conflict.resolved_value) == (side, later)
        closed = engine.store.conflict(conflict.id)
        assert closed is not None and closed.status == "resolved"
        assert closed.erp_value == (ERP_LATER if side == "erp" else ERP_PHONE)
        assert closed.crm_value == (CRM_LATER if side == "crm" else CRM_PHONE)
        # nothing left to write afterwards, and the later value stays in both systems
        reports = [await engine.sync() for _ in range(2)]
        entries = engine.store.audit_log(flow=flow.name, entity="customer", limit=500)
    assert erp_phone(env, 2) == account(env, 2)["Phone"] == later
    assert reports[-1].writes == 0
    resolved = {e.target: e for e in entries if e.action == "resolve"}
    assert set(resolved) == {"erp", "crm"}
    assert resolved["erp"].after == resolved["crm"].after == {"phone": later}
    assert resolved["erp"].before == {"phone": ERP_LATER if side == "erp" else ERP_PHONE}
    assert resolved["crm"].before == {"phone": CRM_LATER if side == "crm" else CRM_PHONE}


async def test_a_typed_value_stays_the_typed_value(env: Env) -> None:
    flow = env.flow(**MANUAL)
    async with running_engine(flow) as engine:
        conflict = await raise_conflict(env, engine, flow)
        env.erp("UPDATE customers SET phone = :p WHERE id = 2", p=ERP_LATER)
        await engine.sync()
        result = await apply_resolution(engine, conflict.id, "value", "+48 555 000 111")
    assert erp_phone(env, 2) == account(env, 2)["Phone"] == "+48 555 000 111"
    assert result.conflict.resolved_value == "+48 555 000 111"


def delete_record(env: Env, where: str, crm_key: str) -> None:
    if where == "crm":
        env.crm.org.delete("Account", crm_key)
    else:
        env.erp("DELETE FROM contacts WHERE customer_id = 2")
        env.erp("DELETE FROM customers WHERE id = 2")


@pytest.mark.parametrize("where", ["crm", "erp"])
async def test_a_conflict_whose_record_was_deleted_is_closed_without_a_write(
    any_env: Env, where: str
) -> None:
    env = any_env
    flow = env.flow(**MANUAL)
    async with running_engine(flow) as engine:
        conflict = await raise_conflict(env, engine, flow)
        crm_key = str(account(env, 2)["Id"])
        delete_record(env, where, crm_key)
        await engine.sync()  # an ERP delete is passed on: the account goes too
        # choose the side that was not deleted: the old code wrote the other one first
        choice = "crm" if where == "crm" else "erp"
        result = await apply_resolution(engine, conflict.id, choice)
        assert result.gone == (("crm",) if where == "crm" else ("erp", "crm"))
        assert (result.conflict.status, result.conflict.resolution) == ("resolved", "deleted")
        assert result.conflict.resolved_value is None
        assert engine.store.conflicts(flow=flow.name, status="open") == []
        # nothing was written to the surviving ERP record (the old code wrote the CRM's value)
        if where == "crm":
            assert erp_phone(env, 2) == ERP_PHONE
        entries = engine.store.audit_log(flow=flow.name, entity="customer", limit=500)
        with pytest.raises(NotResolvable, match=r"already closed \(deleted\)"):
            await apply_resolution(engine, conflict.id, choice)
    closing = {e.target: e for e in entries if e.cause == f"conflict:{conflict.id}:deleted"}
    assert set(closing) == {"erp", "crm"}
    assert all(e.action == "close" and e.after is None for e in closing.values())
    assert closing[where].before is None
    assert not any(e.action == "resolve" for e in entries)


async def test_a_refusal_after_the_first_write_is_reported_and_the_conflict_stays_open(
    env: Env,
) -> None:
    flow = env.flow(**MANUAL)
    typed = "+48 000 000 000"
    async with running_engine(flow) as engine:
        conflict = await raise_conflict(env, engine, flow)
        env.erp(
            "CREATE TRIGGER refuse_phone BEFORE UPDATE OF phone ON customers "
            f"WHEN NEW.phone = '{typed}' BEGIN SELECT RAISE(ABORT, 'phone refused'); END"
        )
        with pytest.raises(PartialResolution) as caught:
            await apply_resolution(engine, conflict.id, "value", typed)
        message = str(caught.value)
        assert "written to the CRM" in message and "the ERP refused" in message
        assert "stays open" in message
        assert [c.id for c in engine.store.conflicts(flow=flow.name, status="open")] == [
            conflict.id
        ]
        assert account(env, 2)["Phone"] == typed and erp_phone(env, 2) == ERP_PHONE
        partial = [
            e
            for e in engine.store.audit_log(flow=flow.name, entity="customer", limit=500)
            if e.action == "resolve"
        ]
        assert [(e.target, e.cause) for e in partial] == [
            ("crm", f"conflict:{conflict.id}:value:partial")
        ]
        # fixed at the ERP: resolving again finishes the job
        env.erp("DROP TRIGGER refuse_phone")
        result = await apply_resolution(engine, conflict.id, "value", typed)
    assert result.conflict.resolved_value == typed
    assert erp_phone(env, 2) == account(env, 2)["Phone"] == typed
