"""End to end: an Account undeleted from the recycle bin un-archives its ERP survivor.

The demo archives a customer in the ERP (``active`` set to false) when its Account is
deleted. With ``cleared`` set in the delete policy, the Account brought back and edited sends
its values to the survivor together with the cleared flag; without it the flag is left for a
person, as documented.
"""

from __future__ import annotations

import re

import pytest
from tandem_env import Env

from tandem.errors import ConfigError
from tandem.pipeline.runtime import running_engine

ARCHIVE = "    delete: {policy: archive, erp_field: active, value: false}\n"


async def _undelete_and_edit(env: Env, cleared: str) -> tuple[list[tuple[bool, str]], int]:
    """Delete customer 2's Account, sync, undelete and edit it, sync; the survivor's
    ``(active, phone)`` rows and the writes of the pass after that."""
    flow = env.flow(**{ARCHIVE: ARCHIVE.replace("value: false}", f"value: false{cleared}}}")})
    async with running_engine(flow) as engine:
        await engine.sync()
        account = str(env.crm_rows("SELECT Id FROM Account WHERE ERP_Id__c = '2'")[0]["Id"])
        env.crm.org.delete("Account", account)
        await engine.sync()
        await engine.sync()
        assert not env.erp_rows("SELECT active FROM customers WHERE id = 2")[0][0]

        [restored] = env.crm.org.undelete([account])
        assert restored.success
        env.crm.org.update("Account", account, {"Phone": "+48 222 000 050"})
        await engine.sync()
        settled = await engine.sync()
    rows = env.erp_rows("SELECT active, phone FROM customers WHERE id = 2")
    return [(bool(row[0]), str(row[1])) for row in rows], settled.writes


async def test_an_undeleted_account_clears_the_archive_flag_when_told_how(env: Env) -> None:
    survivor, writes = await _undelete_and_edit(env, ", cleared: true")
    assert survivor == [(True, "+48 222 000 050")]
    assert writes == 0


async def test_without_cleared_the_archive_flag_stays_for_a_person(env: Env) -> None:
    survivor, writes = await _undelete_and_edit(env, "")
    assert survivor == [(False, "+48 222 000 050")]
    assert writes == 0


def _products(cleared: str) -> dict[str, str]:
    """Products flagged on both sides (ERP ``active``, CRM ``IsActive``), neither mapped."""
    return {
        "    depends_on: [product_category]\n": "    depends_on: [product_category]\n"
        "    delete: {policy: flag, erp_field: active, crm_field: IsActive, value: false"
        f"{cleared}}}\n",
        "      - {field: active, erp: active, crm: IsActive}\n      - {field: category": (
            "      - {field: category"
        ),
    }


@pytest.mark.parametrize(("cleared", "active"), [(", cleared: true", True), ("", False)])
async def test_a_product_created_in_the_crm_carries_the_cleared_flag(
    env: Env, cleared: str, active: bool
) -> None:
    """Product2.IsActive defaults to false, the flag's mark: with ``cleared`` Tandem creates
    the product active; without it the org's default stands."""
    env.erp("INSERT INTO products (code, name) VALUES ('NEW-1', 'Fresh product')")
    async with running_engine(env.flow(**_products(cleared))) as engine:
        await engine.sync()
        settled = await engine.sync()
    rows = env.crm_rows("SELECT IsActive FROM Product2 WHERE ProductCode = 'NEW-1'")
    assert [row["IsActive"] for row in rows] == [active]
    assert settled.writes == 0


@pytest.mark.parametrize(
    ("delete", "message"),
    [
        ("{policy: delete, cleared: true}", "cleared has no flag to clear under policy delete"),
        (
            "{policy: archive, erp_field: active, value: false, cleared: false}",
            "cleared (False) must differ from value",
        ),
    ],
)
def test_cleared_is_checked_against_the_policy(env: Env, delete: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as raised:
        env.flow(**{ARCHIVE: f"    delete: {delete}\n"})
    assert "entities.customer.delete.cleared" in str(raised.value)
