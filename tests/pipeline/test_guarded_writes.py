"""Guarded writes end to end: an edit of a field both systems edit, landing between Tandem's
read of it and Tandem's write over it, is not overwritten: the write is not made, the record
is planned again, and the flow's conflict policy (here: newest wins) settles it.

And what it costs: only such writes are guarded (25 to a Composite call in Salesforce);
every other write goes in Collections as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from audit_kit import before_crm_writes, before_erp_writes
from tandem_env import Env

from tandem.connectors.base import EntityBinding, WriteOp
from tandem.pipeline.runtime import running_engine


def _account_id(env: Env, customer: int) -> str:
    [row] = env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{customer}'")
    return str(row["Id"])


def _phones(env: Env, customer: int) -> tuple[object, object]:
    erp = env.erp_rows("SELECT phone FROM customers WHERE id = :k", k=customer)[0][0]
    [crm] = env.crm_rows(f"SELECT Phone FROM Account WHERE ERP_Id__c = '{customer}'")
    return erp, crm["Phone"]


async def test_an_erp_edit_landing_while_tandem_writes_the_erp_wins(every_env: Env) -> None:
    """The CRM's new phone is being written to the ERP when an ERP user types another one.
    The UPDATE finds the row changed and writes nothing; planned again, the ERP's edit is the
    newer: it goes to the CRM too."""
    env = every_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        env.crm.org.update("Account", _account_id(env, 2), {"Phone": "+48 870 000 000"})
        typed: list[bool] = []

        def user_types(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            if binding.source == "customers" and not typed:
                assert [op.guard is not None for op in ops] == [True]
                typed.append(True)
                env.erp("UPDATE customers SET phone = '+48 880 000 000' WHERE id = 2")

        before_erp_writes(engine, user_types)
        first = await engine.sync()
        assert first.counts["customer"]["crm->erp"]["changed_meanwhile"] == 1
        assert _phones(env, 2)[0] == "+48 880 000 000"  # not overwritten
        await engine.sync()
        settled = await engine.sync()
    assert typed
    assert _phones(env, 2) == ("+48 880 000 000", "+48 880 000 000")
    assert not engine.store.open_conflict_fields(engine.flow.name, "customer", ["2"])
    assert settled.writes == 0


async def test_a_crm_edit_landing_while_tandem_writes_the_crm_wins(every_env: Env) -> None:
    """The mirror: the ERP's new phone is being written to the CRM when a CRM user edits it.
    Salesforce refuses the guarded update (or the read before it sees the edit); the CRM
    user's edit is the newer one and reaches the ERP."""
    env = every_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        account = _account_id(env, 2)
        env.erp("UPDATE customers SET phone = '+48 810 000 000' WHERE id = 2")
        edited: list[bool] = []

        def user_edits(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            if binding.source == "Account" and not edited:
                edited.append(True)
                env.crm.org.update("Account", account, {"Phone": "+48 820 000 000"})

        before_crm_writes(engine, user_edits)
        first = await engine.sync()
        assert first.counts["customer"]["erp->crm"]["changed_meanwhile"] == 1
        await engine.sync()
        settled = await engine.sync()
    assert edited
    assert _phones(env, 2) == ("+48 820 000 000", "+48 820 000 000")
    assert settled.writes == 0


def _calls(env: Env, before: dict[str, int]) -> dict[str, int]:
    now = env.crm.state.requests
    return {k: v - before.get(k, 0) for k, v in now.items() if v - before.get(k, 0)}


async def test_only_writes_over_a_shared_field_are_guarded_and_they_share_composite_calls(
    env: Env,
) -> None:
    """Cities (the ERP's alone) go in one Collections call as ever; 30 phones (both edit
    them, so each was read) go as guarded sObject Rows PATCHes, 25 to a Composite call."""
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        await engine.sync()
        before = dict(env.crm.state.requests)
        await engine.sync()
        idle = _calls(env, before)

        env.erp("UPDATE customers SET city = 'Sopot' WHERE id <= 20")
        before = dict(env.crm.state.requests)
        cities = await engine.sync()
        plain = _calls(env, before)

        env.erp("UPDATE customers SET phone = '+48 500 000 ' || id WHERE id <= 20")
        for n in range(21, 31):
            env.erp(
                "INSERT INTO customers (id, number, name, nip, city, country_code, phone) "
                "VALUES (:id, :number, 'Extra', '5260250274', 'Hel', 'PL', NULL)",
                id=n,
                number=f"C-9{n:04d}",
            )
        await engine.sync()  # the new ones created (not guarded: nothing to overwrite)
        env.erp("UPDATE customers SET phone = '+48 600 000 ' || id WHERE id > 20")
        env.erp("UPDATE customers SET phone = '+48 700 000 ' || id WHERE id <= 20")
        before = dict(env.crm.state.requests)
        phones = await engine.sync()
        guarded = _calls(env, before)
    assert cities.total("updated") == 19  # customer 13 has a bad NIP: never in the CRM
    assert plain.get("PATCH collections 200") == 1
    assert plain.get("POST composite 200", 0) == idle.get("POST composite 200", 0)
    assert phones.total("updated") == 29
    assert phones.total("changed_meanwhile") == 0
    assert guarded.get("PATCH collections 200", 0) == 0
    # the 29 guarded updates: two Composite calls (25 + 4), besides the pass's own probe
    assert guarded["POST composite 200"] == idle.get("POST composite 200", 0) + 2
    rows = env.crm_rows("SELECT ERP_Id__c, Phone FROM Account WHERE ERP_Id__c != null")
    phones_now = {str(r["ERP_Id__c"]): r["Phone"] for r in rows}
    assert phones_now["2"] == "+48 700 000 2" and phones_now["25"] == "+48 600 000 25"


async def test_an_erp_edit_landing_while_a_lost_conflict_is_reverted_in_the_erp_is_kept(
    every_env: Env,
) -> None:
    """Both systems changed account 2's phone, the CRM later: newest wins, so the ERP is set
    back to the CRM's number. An ERP user types a third number just before that revert: the
    revert finds the row changed and is dropped; planned again, the newest edit (the third
    number) reaches the CRM too."""
    env = every_env
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET phone = '+48 910 000 000' WHERE id = 2")
        env.crm.org.update("Account", _account_id(env, 2), {"Phone": "+48 920 000 000"})
        typed: list[bool] = []

        def user_types(binding: EntityBinding, ops: Sequence[WriteOp]) -> None:
            reverts = [op for op in ops if op.ref == "2" and op.guard is not None]
            if binding.source == "customers" and reverts and not typed:
                typed.append(True)
                env.erp("UPDATE customers SET phone = '+48 930 000 000' WHERE id = 2")

        before_erp_writes(engine, user_types)
        first = await engine.sync()
        assert first.counts["customer"]["erp->crm"]["changed_meanwhile"] == 1
        assert first.counts["customer"]["erp->crm"]["reverted"] == 0  # dropped: not counted
        assert _phones(env, 2) == ("+48 930 000 000", "+48 920 000 000")
        await engine.sync()
        settled = await engine.sync()
    assert typed
    assert _phones(env, 2) == ("+48 930 000 000", "+48 930 000 000")
    assert settled.writes == 0
