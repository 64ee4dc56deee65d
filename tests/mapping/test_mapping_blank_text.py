"""An ERP's empty text is no value: it clears the CRM's field once and is not written again.

Reproduced against a SQLite ERP and the HTTPS Salesforce sandbox (which, as Salesforce does,
stores an empty text as null).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tandem_env import Env, build_env

from tandem.config import parse_flow
from tandem.errors import MappingError
from tandem.mapping import Mapper
from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine

from .conftest import FLOW, MemoryRefs


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield from build_env(tmp_path, f"sqlite:///{tmp_path / 'erp.db'}", customers=3)


def _customer_counts(report: PassReport) -> dict[str, dict[str, int]]:
    counts = report.counts.get("customer", {})
    return {direction: dict(counter) for direction, counter in counts.items()}


async def test_a_city_cleared_in_the_erp_clears_the_crm_city(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET city = '' WHERE id = 1")
        report = await engine.sync()
        letters = engine.store.dead_letters(flow=engine.flow.name, status="open")
    assert letters == []
    assert report.total("dead_lettered") == 0
    (row,) = env.crm_rows("SELECT BillingCity FROM Account WHERE ERP_Id__c = '1'")
    assert row["BillingCity"] is None


async def test_an_empty_erp_street_is_written_once_not_every_pass(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
        env.erp("UPDATE customers SET street = '' WHERE id = 1")
        first = await engine.sync()
        later = [await engine.sync() for _ in range(3)]
    assert _customer_counts(first)["erp->crm"]["updated"] == 1
    for report in later:  # the echo of the CRM's null equals the ERP's empty street
        assert report.total("updated") == 0
        assert report.total("reverted") == 0
    (row,) = env.erp_rows("SELECT street FROM customers WHERE id = 1")
    assert str(row[0]) == ""  # the ERP keeps its own spelling of "no street"


SPEC = parse_flow(FLOW)
BASE = {"name": "Acme", "nip": "5260001246", "code": "A1", "country": "PL", "hold": "N"}


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_texts_read_as_no_value(blank: str) -> None:
    mapper = Mapper(SPEC)
    record = {**BASE, "email": blank, "note": blank, "currency": blank}
    canonical = mapper.to_canonical("customer", "erp", record, "1", MemoryRefs())
    assert canonical["email"] is None
    assert canonical["x_note"] is None  # an untyped field too: it equals the CRM's null
    assert canonical["currency"] == "EUR"  # the field's default, as for a null


def test_a_blank_required_field_is_refused_as_missing() -> None:
    with pytest.raises(MappingError, match="a value is required") as caught:
        Mapper(SPEC).to_canonical("customer", "erp", {**BASE, "name": ""}, "1", MemoryRefs())
    assert caught.value.field == "name"


def test_a_blank_value_mapped_field_is_no_value_not_an_unmapped_value() -> None:
    crm = {"Name": "Acme", "Tax_Id__c": "5260001246", "BillingCountry": "", "Hold__c": False}
    canonical = Mapper(SPEC).to_canonical("customer", "crm", crm, "001", MemoryRefs())
    assert canonical["billing_address.country"] is None
