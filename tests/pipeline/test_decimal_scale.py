"""End to end: an ERP price with three decimals against a Salesforce currency field of scale 2.

The demo ERP's ``price_list_entries.unit_price`` becomes ``NUMERIC(12, 3)``; the CRM's
``PricebookEntry.UnitPrice`` is a currency field of scale 2, which Salesforce (and the sandbox)
rounds half up to. Tandem rounds the value it sends itself, records what the CRM holds, and
compares the two systems' prices at the CRM's scale: no write on the next pass, no drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from tandem_env import Env, build_env
from typer.testing import CliRunner

from tandem.cli import app
from tandem.mapping.scale import native_scale
from tandem.pipeline.reconcile import reconcile
from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine

ENTITY = "price_list_entry"
ENTRIES = 40  # the demo's price list entries


def _three_decimal_prices(url: str) -> None:
    """Make ``price_list_entries.unit_price`` a ``NUMERIC(12, 3)`` column."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            dialect = conn.dialect.name
            if dialect == "postgresql":
                conn.execute(
                    sa.text(
                        "ALTER TABLE price_list_entries ALTER COLUMN unit_price TYPE NUMERIC(12, 3)"
                    )
                )
            elif dialect in ("mysql", "mariadb"):
                conn.execute(
                    sa.text(
                        "ALTER TABLE price_list_entries MODIFY unit_price DECIMAL(12, 3) NOT NULL"
                    )
                )
            else:  # SQLite cannot change a column's type: the table is made again
                conn.execute(sa.text("ALTER TABLE price_list_entries RENAME TO old_entries"))
                conn.execute(
                    sa.text(
                        "CREATE TABLE price_list_entries ("
                        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
                        " price_list_id INTEGER NOT NULL REFERENCES price_lists (id),"
                        " product_id INTEGER NOT NULL REFERENCES products (id),"
                        " unit_price NUMERIC(12, 3) NOT NULL,"
                        " currency VARCHAR(3) NOT NULL,"
                        " active BOOLEAN NOT NULL DEFAULT 1,"
                        " crm_id VARCHAR(18) UNIQUE)"
                    )
                )
                conn.execute(sa.text("INSERT INTO price_list_entries SELECT * FROM old_entries"))
                conn.execute(sa.text("DROP TABLE old_entries"))
            conn.execute(sa.text("UPDATE price_list_entries SET unit_price = 12.345 WHERE id = 1"))
    finally:
        engine.dispose()


def _build(folder: Path, erp_url: str) -> Iterator[Env]:
    yield from build_env(folder, erp_url, customers=3, shape_erp=_three_decimal_prices)


@pytest.fixture
def priced(tmp_path: Path) -> Iterator[Env]:
    """The demo flow, a SQLite ERP whose prices have three decimals, and the sandbox."""
    yield from _build(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_priced(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """:func:`priced` with the ERP on each supported database (one of this test alone)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'erp.db'}"
    else:
        fresh = "pg_fresh_url" if request.param == "postgresql" else "mariadb_fresh_url"
        url = request.getfixturevalue(fresh)
    yield from _build(tmp_path, url)


def _crm_price(env: Env, erp_id: str = "1") -> object:
    rows = env.crm_rows(f"SELECT UnitPrice FROM PricebookEntry WHERE ERP_Id__c = '{erp_id}'")
    return rows[0]["UnitPrice"]


def _erp_price(env: Env, erp_id: int = 1) -> Decimal:
    value = env.erp_rows("SELECT unit_price FROM price_list_entries WHERE id = :id", id=erp_id)
    return Decimal(str(value[0][0]))


def _written(report: PassReport) -> dict[str, int]:
    return {
        f"{direction} {counter}": n
        for per in report.counts.values()
        for direction, counts in per.items()
        for counter, n in counts.items()
        if counter in ("created", "updated", "deleted", "reverted") and n
    }


async def test_a_three_decimal_price_syncs_rounded_and_then_nothing_is_written(
    any_priced: Env,
) -> None:
    env = any_priced
    flow = env.flow()
    async with running_engine(flow) as engine:
        first = await engine.sync()
        second = await engine.sync()
        third = await engine.sync()
        compared = await reconcile(engine)
        agreed = engine.store.synced(ENTITY, "erp", ["1"])["1"].values
        crm_schema = engine.context(ENTITY).schemas["crm"]
    assert first.total("created") == 3 + 6 + 5 + 40 + ENTRIES  # everything arrived
    assert first.total("reverted") == 0  # the CRM's rounding is not "reverted" back
    # the CRM holds two decimals; the ERP keeps its three
    assert native_scale(crm_schema.fields["UnitPrice"]) == 2
    assert _crm_price(env) == 12.35
    assert _erp_price(env) == Decimal("12.345")
    # what Tandem recorded as agreed is what the CRM holds
    assert agreed["unit_price.amount"] == Decimal("12.35")
    # a second (and third) pass with no changes makes no write call
    assert (second.writes, second.write_calls, _written(second)) == (0, 0, {})
    assert (third.writes, third.write_calls) == (0, 0)
    # reconcile compares at the CRM's scale: 12.345 and 12.35 are the same price
    entries = compared.entities[ENTITY]
    assert entries.differences == 0 and entries.in_sync == ENTRIES
    assert [d for d in compared.drifts if d.entity == ENTITY] == []


async def test_an_erp_edit_is_sent_only_when_the_crm_can_hold_it(priced: Env) -> None:
    env = priced
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        # 12.346 is 12.35 in the CRM too: nothing to send
        env.erp("UPDATE price_list_entries SET unit_price = 12.346 WHERE id = 1")
        below = await engine.sync()
        # 12.355 is 12.36 there (half up): one update
        env.erp("UPDATE price_list_entries SET unit_price = 12.355 WHERE id = 1")
        changed = await engine.sync()
        settled = await engine.sync()
        compared = await reconcile(engine)
    assert (below.writes, below.write_calls) == (0, 0)
    assert _written(changed) == {"erp->crm updated": 1}
    assert _crm_price(env) == 12.36
    assert (settled.writes, settled.write_calls) == (0, 0)
    assert compared.entities[ENTITY].differences == 0


async def test_a_new_process_reusing_the_saved_description_rounds_alike(priced: Env) -> None:
    """The description saved by a run stands in for a describe: it keeps the field's scale."""
    env = priced
    flow = env.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
    async with running_engine(flow) as again:
        assert again.systems.crm.calls_made == 0  # type: ignore[attr-defined]
        compared = await reconcile(again)
        env.erp("UPDATE price_list_entries SET unit_price = 12.349 WHERE id = 1")
        report = await again.sync()
    assert compared.entities[ENTITY].differences == 0
    assert (report.writes, report.write_calls) == (0, 0)
    assert _crm_price(env) == 12.35


async def test_check_warns_of_an_erp_column_with_more_places_than_the_crm_field(
    priced: Env,
) -> None:
    flow = priced.flow()
    # as `tandem check` runs it
    async with running_engine(flow, check=False, claim=False, fresh_describe=True) as checked:
        problems = checked.problems
        warnings = checked.warnings
    assert problems == []  # a warning, not an error: the flow may run
    expected = (
        "entity price_list_entry, field unit_price.amount: erp price_list_entries.unit_price"
        " has 3 decimal places but crm PricebookEntry.UnitPrice has 2 decimal places"
    )
    (warning,) = warnings
    assert warning.message.startswith(expected)
    # placed like a problem: the file, the line and the setting of the field's CRM side
    assert warning.file == flow.source_file and warning.line is not None
    assert warning.field.startswith("entities.price_list_entry.fields[")
    assert warning.field.endswith("].crm")
    async with running_engine(flow) as engine:
        await engine.sync()
        second = await engine.sync()
        compared = await reconcile(engine)
    assert (second.writes, second.write_calls) == (0, 0)
    assert compared.entities[ENTITY].differences == 0
    assert _crm_price(priced) == 12.35


def test_tandem_check_prints_the_warning_and_passes(priced: Env) -> None:
    priced.flow()
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["check", "-c", str(priced.config)])
    assert result.exit_code == 0, result.output
    flat = result.output.replace("\n", "")
    assert f"! {priced.config}:" in flat
    assert "erp price_list_entries.unit_price has 3 decimal places" in flat
    assert "the mapping fits both systems' schemas" in flat


async def test_an_agreed_price_saved_unrounded_by_an_earlier_release_settles(
    priced: Env,
) -> None:
    """An earlier release recorded the ERP's 12.345 as agreed; the CRM holds 12.35. When the
    CRM's record is read again, the two compare equal at the CRM's scale: no revert."""
    flow = priced.flow()
    async with running_engine(flow) as engine:
        await engine.sync()
        store = engine.store
        (state,) = store.synced(ENTITY, "erp", ["1"]).values()
        amount = next(k for k in state.values if k.endswith("amount"))
        assert state.values[amount] == Decimal("12.35")
        store.save_synced([replace(state, values={**state.values, amount: Decimal("12.345")})])
        crm_key = state.crm_key
        assert crm_key is not None
        priced.crm.org.update("PricebookEntry", crm_key, {"UnitPrice": 12.35})  # read again
        passes = [await engine.sync(entities=[ENTITY]) for _ in range(3)]
    assert [(p.writes, p.write_calls) for p in passes] == [(0, 0)] * 3
    assert _crm_price(priced) == 12.35 and _erp_price(priced) == Decimal("12.345")
