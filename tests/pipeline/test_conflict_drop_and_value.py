"""The conflict queue's two ways out that write nothing typed by Tandem itself.

``conflicts drop`` leaves both systems holding their values for good: the two values the
person saw are not a conflict again, however often the record is re-read, while a later edit
of the field on one side syncs by the policy and a later edit on both is a new conflict.

``conflicts resolve --value X`` takes ``X`` as what the field is: a number for a number
field, a date for a date field, canonical (by the model's type) or custom (``x_``: by the
values in conflict, else by the described native field); text that does not parse is refused
naming the field and the value, with nothing written.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tandem_env import Env, build_env

from tandem.config import FlowSpec
from tandem.demo.flow import CRM_SCHEMA
from tandem.errors import ConfigError
from tandem.pipeline.engine import Engine
from tandem.pipeline.events import RecordSynced
from tandem.pipeline.plan import Rules, SourceRecord, TargetRecord, plan_record
from tandem.pipeline.resolve import apply_resolution, drop_conflicts
from tandem.pipeline.runtime import running_engine
from tandem.store import Conflict

SHARED_MANUAL = {"owner: erp\n    conflict: newest_wins": "owner: both\n    conflict: manual"}
"""The demo's customers with every field edited on both sides, conflicts for a person."""


def account_id(env: Env, erp_id: int) -> str:
    (row,) = env.crm_rows(f"SELECT Id FROM Account WHERE ERP_Id__c = '{erp_id}'")
    return str(row["Id"])


def names(env: Env, erp_id: int) -> tuple[object, object]:
    """The customer's name in the ERP and in the CRM."""
    erp = env.erp_rows("SELECT name FROM customers WHERE id = :id", id=erp_id)[0][0]
    (crm,) = env.crm_rows(f"SELECT Name FROM Account WHERE ERP_Id__c = '{erp_id}'")
    return erp, crm["Name"]


def open_conflicts(engine: Engine, flow: FlowSpec) -> list[Conflict]:
    return engine.store.conflicts(flow=flow.name, status="open")


async def name_conflict(env: Env, engine: Engine, flow: FlowSpec, erp: str, crm: str) -> Conflict:
    """Customer 18's name edited to ``erp`` in the ERP and ``crm`` in the CRM: one conflict."""
    env.erp("UPDATE customers SET name = :n WHERE id = 18", n=erp)
    env.crm.org.update("Account", account_id(env, 18), {"Name": crm})
    await engine.sync()
    (conflict,) = open_conflicts(engine, flow)
    assert (conflict.erp_key, conflict.field) == ("18", "name")
    assert (conflict.erp_value, conflict.crm_value) == (erp, crm)
    return conflict


# -- drop --------------------------------------------------------------------------------


async def test_a_dropped_conflict_stays_dropped_through_re_reads(env: Env) -> None:
    flow = env.flow(**SHARED_MANUAL)
    async with running_engine(flow) as engine:
        await engine.sync()
        conflict = await name_conflict(env, engine, flow, "ERP 18", "CRM 18")
        result = drop_conflicts(engine.store, flow.name, [conflict.id])
        assert [c.id for c in result.dropped] == [conflict.id]
        synced: list[RecordSynced] = []

        async def seen(event: RecordSynced) -> None:
            synced.append(event)

        engine.bus.subscribe(seen, RecordSynced)  # type: ignore[arg-type]

        quiet = await engine.sync()
        assert open_conflicts(engine, flow) == []
        assert quiet.writes == 0
        # another field edited on each side: the record is re-read, its name left alone
        env.erp("UPDATE customers SET phone = '+48 600 000 018' WHERE id = 18")
        await engine.sync()
        env.crm.org.update("Account", account_id(env, 18), {"BillingCity": "Gniezno"})
        await engine.sync()
        settled = await engine.sync()
        assert open_conflicts(engine, flow) == []
        assert settled.writes == 0
        (crm,) = env.crm_rows("SELECT Phone FROM Account WHERE ERP_Id__c = '18'")
        city = env.erp_rows("SELECT city FROM customers WHERE id = 18")[0][0]
        closed = engine.store.conflicts(flow=flow.name, status="resolved")
    # the events a rules layer reads carry canonical fields only, not the values kept apart
    assert synced and all(
        set(e.values) <= {f.field for f in flow.entity("customer").fields} for e in synced
    )
    assert names(env, 18) == ("ERP 18", "CRM 18")  # both systems keep their values
    assert (crm["Phone"], city) == ("+48 600 000 018", "Gniezno")
    assert [(c.id, c.resolution) for c in closed] == [(conflict.id, "dropped")]


@pytest.mark.parametrize("side", ["erp", "crm"])
async def test_a_later_edit_after_a_drop_syncs_by_the_policy(env: Env, side: str) -> None:
    flow = env.flow(**SHARED_MANUAL)
    async with running_engine(flow) as engine:
        await engine.sync()
        conflict = await name_conflict(env, engine, flow, "ERP 18", "CRM 18")
        drop_conflicts(engine.store, flow.name, [conflict.id])
        await engine.sync()
        # one side edits the field again: the other did not change it since the drop
        if side == "erp":
            env.erp("UPDATE customers SET name = 'ERP 18 later' WHERE id = 18")
        else:
            env.crm.org.update("Account", account_id(env, 18), {"Name": "CRM 18 later"})
        await engine.sync()
        assert open_conflicts(engine, flow) == []
        later = "ERP 18 later" if side == "erp" else "CRM 18 later"
        assert names(env, 18) == (later, later)
        settled = await engine.sync()
        assert settled.writes == 0
        # and from there on the field is an ordinary shared field: both edit, a new conflict
        again = await name_conflict(env, engine, flow, "ERP 18 again", "CRM 18 again")
        assert again.id != conflict.id
        assert again.base_value == later
    assert names(env, 18) == ("ERP 18 again", "CRM 18 again")


async def test_both_edit_after_a_drop_is_a_new_conflict_and_resolving_it_agrees(
    env: Env,
) -> None:
    flow = env.flow(**SHARED_MANUAL)
    async with running_engine(flow) as engine:
        await engine.sync()
        first = await name_conflict(env, engine, flow, "ERP 18", "CRM 18")
        drop_conflicts(engine.store, flow.name, [first.id])
        await engine.sync()
        second = await name_conflict(env, engine, flow, "ERP 18 b", "CRM 18 b")
        assert second.id != first.id
        await apply_resolution(engine, second.id, "crm")
        assert names(env, 18) == ("CRM 18 b", "CRM 18 b")
        # agreed from here: a later ERP edit goes to the CRM, no conflict
        env.erp("UPDATE customers SET name = 'ERP 18 c' WHERE id = 18")
        await engine.sync()
        assert open_conflicts(engine, flow) == []
        settled = await engine.sync()
    assert names(env, 18) == ("ERP 18 c", "ERP 18 c")
    assert settled.writes == 0


async def test_a_second_drop_of_a_new_pair_lasts_too(env: Env) -> None:
    flow = env.flow(**SHARED_MANUAL)
    async with running_engine(flow) as engine:
        await engine.sync()
        first = await name_conflict(env, engine, flow, "ERP 18", "CRM 18")
        drop_conflicts(engine.store, flow.name, [first.id])
        await engine.sync()
        second = await name_conflict(env, engine, flow, "ERP 18 b", "CRM 18 b")
        drop_conflicts(engine.store, flow.name, [second.id])
        env.erp("UPDATE customers SET phone = '+48 600 000 118' WHERE id = 18")
        await engine.sync()
        await engine.sync()
        assert open_conflicts(engine, flow) == []
    assert names(env, 18) == ("ERP 18 b", "CRM 18 b")


RULES = Rules(owner_of=lambda _: "both", default_owner="erp", conflict="manual", delete="ignore")


def _plan(source: str, mine: Any, theirs: Any, base: dict[str, Any]) -> Any:
    from datetime import UTC, datetime

    at = datetime(2025, 1, 2, tzinfo=UTC)
    key, partner = ("18", "001A") if source == "erp" else ("001A", "18")
    return plan_record(
        RULES,
        source,  # type: ignore[arg-type]
        SourceRecord(key, {"name": mine}, at),
        base=base,
        base_deleted=False,
        partner=partner,
        current=TargetRecord(partner, {"name": theirs}, at),
    )


@pytest.mark.parametrize("source", ["erp", "crm"])
def test_plan_of_a_field_kept_apart(source: str) -> None:
    from tandem.pipeline.apart import keep_apart

    base = keep_apart({"name": "Cust 18"}, "name", erp="ERP 18", crm="CRM 18")
    assert base["name"] == "Cust 18"  # the last value both agreed on stays
    seen = {"erp": "ERP 18", "crm": "CRM 18"}
    mine, theirs = seen[source], seen["crm" if source == "erp" else "erp"]
    # re-read as seen: nothing to do, still apart
    same = _plan(source, mine, theirs, base)
    assert same.noop and same.values == base
    # edited here, not there: written there, agreed from then on
    edited = _plan(source, "later", theirs, base)
    assert edited.conflicts == []
    assert edited.target is not None and edited.target.values == {"name": "later"}
    assert edited.values == {"name": "later"}
    # edited on both sides: a conflict, the field still apart until someone decides
    both = _plan(source, "later", "other", base)
    assert [c.field for c in both.conflicts] == ["name"]
    assert both.target is None and both.values == base
    # the same edit made on both sides: agreed, nothing to write
    met = _plan(source, "same", "same", base)
    assert met.converged and met.target is None and met.values == {"name": "same"}


# -- resolve --value, typed ----------------------------------------------------------------

CUSTOM_CRM = CRM_SCHEMA.replace(
    "      Credit_Hold__c: {type: boolean, default: false, label: Credit Hold}\n",
    "      Credit_Hold__c: {type: boolean, default: false, label: Credit Hold}\n"
    "      Credit_Limit__c: {type: currency, precision: 16, scale: 2, label: Credit Limit}\n"
    "      Since__c: {type: date, label: Customer Since}\n",
)
CUSTOM_FIELDS = (
    "      - {field: credit_hold, erp: credit_hold, crm: Credit_Hold__c}\n"
    "      - {field: x_credit_limit, erp: x_credit_limit, crm: Credit_Limit__c, owner: both}\n"
    "      - {field: x_since, erp: x_since, crm: Since__c, owner: both}\n"
)


def _custom_columns(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE customers ADD COLUMN x_credit_limit NUMERIC(16, 2)"))
            conn.execute(sa.text("ALTER TABLE customers ADD COLUMN x_since DATE"))
            conn.execute(sa.text("UPDATE customers SET x_credit_limit = 1000"))
            conn.execute(sa.text("UPDATE customers SET x_since = '2020-01-15'"))
    finally:
        engine.dispose()


def _custom_flow(text: str) -> str:
    text = text.replace("conflict: newest_wins", "conflict: manual")
    return text.replace(
        "      - {field: credit_hold, erp: credit_hold, crm: Credit_Hold__c}\n", CUSTOM_FIELDS
    )


@pytest.fixture
def custom(tmp_path: Path) -> Iterator[Env]:
    """The demo flow, customers carrying a custom credit limit and date on both sides."""
    yield from build_env(
        tmp_path,
        f"sqlite:///{tmp_path / 'erp.db'}",
        customers=3,
        shape_erp=_custom_columns,
        crm_schema=CUSTOM_CRM,
        shape_flow=_custom_flow,
    )


async def custom_conflicts(env: Env, engine: Engine, flow: FlowSpec) -> dict[str, Conflict]:
    """Customer 2's credit limit and since-date edited on both sides: two conflicts."""
    await engine.sync()
    env.erp("UPDATE customers SET x_credit_limit = 2000, x_since = '2021-02-01' WHERE id = 2")
    env.crm.org.update(
        "Account", account_id(env, 2), {"Credit_Limit__c": 3000, "Since__c": "2022-03-01"}
    )
    await engine.sync()
    found = {c.field: c for c in open_conflicts(engine, flow)}
    assert set(found) == {"x_credit_limit", "x_since"}
    return found


def custom_values(env: Env) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Customer 2's (credit limit, since) in the ERP and in the CRM."""
    erp = env.erp_rows("SELECT x_credit_limit, x_since FROM customers WHERE id = 2")[0]
    (crm,) = env.crm_rows("SELECT Credit_Limit__c, Since__c FROM Account WHERE ERP_Id__c = '2'")
    return (erp[0], erp[1]), (crm["Credit_Limit__c"], crm["Since__c"])


async def test_resolve_value_of_custom_number_and_date_fields(custom: Env) -> None:
    env = custom
    flow = env.flow()
    async with running_engine(flow) as engine:
        found = await custom_conflicts(env, engine, flow)
        number = await apply_resolution(engine, found["x_credit_limit"].id, "value", "12.345")
        when = await apply_resolution(engine, found["x_since"].id, "value", "2025-03-01")
        assert number.conflict.resolved_value == Decimal("12.35")  # the fields' two places
        assert when.conflict.resolved_value == date(2025, 3, 1)
        settled = [await engine.sync() for _ in range(2)]
        assert open_conflicts(engine, flow) == []
        state = engine.store.synced("customer", "erp", ["2"])["2"]
    (erp_limit, erp_since), (crm_limit, crm_since) = custom_values(env)
    assert Decimal(str(erp_limit)) == Decimal(str(crm_limit)) == Decimal("12.35")
    assert str(erp_since) == str(crm_since) == "2025-03-01"
    assert state.values["x_credit_limit"] == Decimal("12.35")
    assert state.values["x_since"] == date(2025, 3, 1)
    assert settled[-1].writes == 0


@pytest.mark.parametrize(("field", "text"), [("x_credit_limit", "lots"), ("x_since", "2025-13-01")])
async def test_resolve_value_that_does_not_parse_names_field_and_value(
    custom: Env, field: str, text: str
) -> None:
    env = custom
    flow = env.flow()
    async with running_engine(flow) as engine:
        found = await custom_conflicts(env, engine, flow)
        before = custom_values(env)
        with pytest.raises(ConfigError) as raised:
            await apply_resolution(engine, found[field].id, "value", text)
        assert field in str(raised.value) and repr(text) in str(raised.value)
        assert [c.id for c in open_conflicts(engine, flow)] == sorted(c.id for c in found.values())
    assert custom_values(env) == before


async def test_resolve_value_of_custom_field_typed_by_the_description(custom: Env) -> None:
    """With no typed value in conflict (as if both had been empty), the described native
    field says what the text is."""
    env = custom
    flow = env.flow()
    async with running_engine(flow) as engine:
        conflict = (await custom_conflicts(env, engine, flow))["x_since"]
        engine.store.add_conflict(
            flow=flow.name,
            entity="customer",
            erp_key="2",
            crm_key=conflict.crm_key,
            field="x_since",
            base_value=None,
            erp_value=None,
            crm_value=None,
            erp_modified=None,
            crm_modified=None,
        )
        done = await apply_resolution(engine, conflict.id, "value", "2025-03-01")
        assert done.conflict.resolved_value == date(2025, 3, 1)
    assert [str(v) for v in (custom_values(env)[0][1], custom_values(env)[1][1])] == [
        "2025-03-01",
        "2025-03-01",
    ]


async def test_resolve_value_of_a_typed_canonical_field(env: Env) -> None:
    """A canonical decimal (a price list entry's amount, shared for the test) parses by its
    model type; text that is no number is refused naming the field."""
    flow = env.flow(
        **{
            "owner: erp\n    depends_on: [price_list, product]": (
                "owner: both\n    conflict: manual\n    depends_on: [price_list, product]"
            )
        }
    )
    async with running_engine(flow) as engine:
        await engine.sync()
        (row,) = env.crm_rows("SELECT Id FROM PricebookEntry WHERE ERP_Id__c = '1'")
        env.erp("UPDATE price_list_entries SET unit_price = 11 WHERE id = 1")
        env.crm.org.update("PricebookEntry", str(row["Id"]), {"UnitPrice": 13})
        await engine.sync()
        (conflict,) = open_conflicts(engine, flow)
        assert conflict.field == "unit_price.amount"
        with pytest.raises(ConfigError, match=r"unit_price\.amount"):
            await apply_resolution(engine, conflict.id, "value", "twelve")
        done = await apply_resolution(engine, conflict.id, "value", "12.5")
        assert done.conflict.resolved_value == Decimal("12.5")
        settled = await engine.sync()
    erp = env.erp_rows("SELECT unit_price FROM price_list_entries WHERE id = 1")[0][0]
    (crm,) = env.crm_rows("SELECT UnitPrice FROM PricebookEntry WHERE ERP_Id__c = '1'")
    assert Decimal(str(erp)) == Decimal(str(crm["UnitPrice"])) == Decimal("12.5")
    assert settled.writes == 0


async def test_reconcile_counts_a_field_kept_apart_as_decided_not_drift(env: Env) -> None:
    """The record differs only where a person kept the values apart: reconcile counts it
    apart (exit code 0, nothing to heal); once another field drifts too, that field alone is
    named, and healing it leaves the kept-apart values as they are."""
    from tandem.pipeline.reconcile import reconcile

    flow = env.flow(**SHARED_MANUAL)
    env.fix_the_bad_nip()
    async with running_engine(flow) as engine:
        await engine.sync()
        conflict = await name_conflict(env, engine, flow, "ERP 18", "CRM 18")
        drop_conflicts(engine.store, flow.name, [conflict.id])
        checked = await reconcile(engine)
        assert checked.differences == 0
        assert checked.entities["customer"].kept_apart == 1
        # drift behind Tandem's back (no capture of it): another field, on the CRM side
        env.crm.org.update("Account", account_id(env, 18), {"Phone": "+48 999 999 999"})
        drifted = await reconcile(engine)
        (drift,) = drifted.drifts
        assert (drift.erp_key, set(drift.fields)) == ("18", {"phone"})
        healed = await reconcile(engine, heal=True)
        assert healed.unrepaired == 0 and healed.still_drifting == []
        assert open_conflicts(engine, flow) == []
    assert names(env, 18) == ("ERP 18", "CRM 18")
