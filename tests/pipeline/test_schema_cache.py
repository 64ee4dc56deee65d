"""Saved descriptions stand in for a describe while young; learned numbers survive a restart."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from memory_connector import MemoryConnector
from memory_engine import memory_engine

from tandem.connectors.base import (
    EntityBinding,
    EntitySchema,
    FieldInfo,
    Learner,
    SchemaCache,
    WriteOp,
    WriteOutcome,
)
from tandem.errors import Fatal
from tandem.pipeline.drift import restore, summarise
from tandem.pipeline.engine import Engine

FLOW = """
version: 1
name: cache
state: sqlite:///{state}
describe_cache_seconds: {max_age}
connections:
  erp: {{type: sql, url: "sqlite://"}}
  crm: {{type: sql, url: "sqlite://"}}
entities:
  customer:
    model: customer
    direction: erp_to_crm
    erp: {{source: customers, key: id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id}}
    fields:
      - {{field: name, erp: name, crm: Name}}
"""


class CachingCrm(MemoryConnector):
    """A CRM whose describe costs a call; it takes saved descriptions and learns a rate."""

    def __init__(self) -> None:
        super().__init__("crm", key_prefix="001")
        self.describes = 0
        self.primed: list[str] = []
        self.forgotten: list[str] = []
        self.rate: float | None = None
        self.fail_writes = False
        self.budget_spent = False

    async def describe(self, binding: EntityBinding) -> EntitySchema:
        self.describes += 1
        return await super().describe(binding)

    def prime_schema(self, binding: EntityBinding, schema: EntitySchema) -> None:
        self.primed.append(schema.source)

    def forget_schema(self, binding: EntityBinding) -> None:
        self.forgotten.append(binding.source)

    def learned(self) -> dict[str, float]:
        return {} if self.rate is None else {"bulk_seconds_per_row": self.rate}

    def recall(self, values: Mapping[str, float]) -> None:
        self.rate = values.get("bulk_seconds_per_row", self.rate)

    async def write_batch(
        self, binding: EntityBinding, ops: Sequence[WriteOp]
    ) -> list[WriteOutcome]:
        if self.fail_writes:
            raise Fatal(
                "job failed: InvalidBatch: Field name not found : Name",
                system="crm",
                operation="bulk upsert Account",
            )
        if self.budget_spent:
            raise Fatal(
                "daily API budget reserve reached: used 800 of 1000, reserve 20%",
                system="crm",
                operation="quota",
                code="QUOTA_RESERVE",
            )
        self.rate = 0.0005
        return await super().write_batch(binding, ops)


def make(tmp_path: Path, crm: CachingCrm, max_age: float = 3600.0) -> Engine:
    return memory_engine(tmp_path, FLOW, MemoryConnector("erp"), crm, max_age=max_age)


def test_the_test_connector_fulfils_both_optional_contracts() -> None:
    crm = CachingCrm()
    assert isinstance(crm, SchemaCache) and isinstance(crm, Learner)
    assert not isinstance(MemoryConnector("erp"), SchemaCache)


def test_a_summary_restores_the_schema_it_was_made_from() -> None:
    schema = EntitySchema(
        "Account",
        {
            "Name": FieldInfo("Name", "string", nillable=False, length=255),
            "Stage": FieldInfo("Stage", "picklist", picklist=("b", "a"), restricted_picklist=True),
            "ParentId": FieldInfo("ParentId", "reference", reference_to=("Account",)),
            "ERP_Id__c": FieldInfo(
                "ERP_Id__c", "string", unique=True, external_id=True, required_on_create=True
            ),
        },
    )
    assert restore("Account", summarise(schema)) == schema
    # A snapshot of the older, shorter format is not trusted as a description.
    assert restore("Account", {"Name": {"type": "string", "length": 255}}) is None


async def test_a_young_saved_description_spares_the_describe(tmp_path: Path) -> None:
    crm = CachingCrm()
    first = make(tmp_path, crm)
    await first.prepare()
    assert crm.describes == 1 and crm.primed == []
    first.store.close()

    second = make(tmp_path, crm)
    await second.prepare()
    assert crm.describes == 1 and crm.primed == ["Account"]
    assert second.context("customer").schemas["crm"].fields["Name"].type == "string"

    # `tandem check` (fresh) always describes, and so does a run's describe again: a
    # description the connector holds for this process is forgotten first.
    await second.prepare(fresh=True)
    assert crm.describes == 2 and crm.forgotten == ["Account"]


async def test_an_old_saved_description_is_described_again(tmp_path: Path) -> None:
    crm = CachingCrm()
    engine = make(tmp_path, crm, max_age=60)
    await engine.prepare()
    summary = engine.store.schema_snapshot("cache", "crm", "Account")
    assert summary is not None
    engine.store._clock = lambda: datetime.now(UTC) - timedelta(seconds=61)
    engine.store.save_schema_snapshot("cache", "crm", "Account", summary)
    await make(tmp_path, crm, max_age=60).prepare()
    assert crm.describes == 2 and crm.primed == []


async def test_no_cache_when_the_age_is_zero(tmp_path: Path) -> None:
    crm = CachingCrm()
    await make(tmp_path, crm, max_age=0).prepare()
    await make(tmp_path, crm, max_age=0).prepare()
    assert crm.describes == 2 and crm.primed == []


async def test_a_write_refused_as_a_whole_makes_the_next_start_describe(tmp_path: Path) -> None:
    crm = CachingCrm()
    engine = make(tmp_path, crm)
    await engine.prepare()
    engine.systems.erp.put("customers", "1", {"name": "Acme"})  # type: ignore[attr-defined]
    crm.fail_writes = True
    with pytest.raises(Fatal):
        await engine.sync()
    await make(tmp_path, crm).prepare()
    assert crm.describes == 2 and crm.primed == []


async def test_a_spent_budget_keeps_the_saved_description(tmp_path: Path) -> None:
    # The budget says nothing of the schemas: describing at the next start would only spend
    # calls the org has not got.
    crm = CachingCrm()
    engine = make(tmp_path, crm)
    await engine.prepare()
    engine.systems.erp.put("customers", "1", {"name": "Acme"})  # type: ignore[attr-defined]
    crm.budget_spent = True
    with pytest.raises(Fatal):
        await engine.sync()
    await make(tmp_path, crm).prepare()
    assert crm.describes == 1 and crm.primed == ["Account"]


async def test_what_a_connector_learned_is_told_to_the_next_process(tmp_path: Path) -> None:
    crm = CachingCrm()
    engine = make(tmp_path, crm)
    await engine.prepare()
    engine.systems.erp.put("customers", "1", {"name": "Acme"})  # type: ignore[attr-defined]
    await engine.sync()
    assert engine.store.memo("cache", "crm.learned") == {"bulk_seconds_per_row": 0.0005}

    newcomer = CachingCrm()
    await make(tmp_path, newcomer).prepare()
    assert newcomer.rate == 0.0005
