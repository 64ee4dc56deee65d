"""The engine repairs the links an earlier release kept for records deleted in both systems.

The systems are in memory. A store "as the earlier release left it" is made by this release's
engine and then put back: the link of a delete synced under the ``delete`` policy is restored
and the schema set back to revision 0004, then migrated again, as an upgrade does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from memory_connector import MemoryConnector

from tandem.config import FlowSpec, parse_flow
from tandem.pipeline.context import Systems
from tandem.pipeline.engine import Engine
from tandem.store import StateStore
from tandem.store.engine import VERSION_TABLE, create_engine

FLOW = """
version: 1
name: legacy
connections:
  erp: {{type: sql, url: "sqlite://"}}
  crm: {{type: sql, url: "sqlite://"}}
entities:
  customer:
    model: customer
    direction: both
    owner: erp
    delete: {delete}
    erp: {{source: customers, key: id, external_id: crm_id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id}}
    fields:
      - {{field: name, erp: name, crm: Name}}
"""
DELETE = "{policy: delete}"
ARCHIVE = "{policy: archive, erp_field: active, value: N}"  # the memory ERP holds text


def flow(delete: str) -> FlowSpec:
    return parse_flow(FLOW.format(delete=delete), base_dir=Path("."))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("pg_fresh_url", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The state store's database, of this test alone."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    found: str = request.getfixturevalue(request.param)
    return found


@pytest.fixture
def store(url: str) -> Iterator[StateStore]:
    state = StateStore(url, auto_migrate=True)
    state.bind_flow("legacy")  # as every run does on opening its store
    yield state
    state.close()


@pytest.fixture
def erp() -> MemoryConnector:
    return MemoryConnector("erp")


@pytest.fixture
def crm() -> MemoryConnector:
    return MemoryConnector("crm", key_prefix="001")


async def started(
    delete: str, store: StateStore, erp: MemoryConnector, crm: MemoryConnector
) -> Engine:
    """An engine of a new process over the same store and systems."""
    engine = Engine(flow(delete), store, Systems(erp=erp, crm=crm))
    await engine.prepare()
    return engine


def upgrade(store: StateStore, url: str) -> None:
    """The schema as the earlier release left it (0004), migrated by this release."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0004'"))
    engine.dispose()
    store.migrate()


def live_in_crm(crm: MemoryConnector) -> dict[str, str]:
    """ERP key -> CRM key of the Accounts alive in the CRM."""
    return {v["ERP_Id"]: k for k, v in crm.records.get("Account", {}).items()}


async def test_a_record_created_again_under_a_key_the_old_release_kept_linked_is_created_anew(
    store: StateStore, url: str, erp: MemoryConnector, crm: MemoryConnector
) -> None:
    engine = await started(DELETE, store, erp, crm)
    erp.put("customers", "1", {"name": "Acme"})
    erp.put("customers", "2", {"name": "Beta"})
    await engine.sync()
    old = live_in_crm(crm)["1"]
    erp.remove("customers", "1")
    assert (await engine.sync()).total("deleted") == 1
    await engine.sync()  # the CRM's echo of the delete
    assert live_in_crm(crm).keys() == {"2"}
    # the earlier release: the link stayed; then the upgrade
    store.link("customer", "1", old)
    upgrade(store, url)
    assert store.stats("legacy")["links"] == {"customer": 2}

    engine = await started(DELETE, store, erp, crm)
    quiet = await engine.sync()
    assert quiet.writes == 0
    assert store.stats("legacy")["links"] == {"customer": 1}
    assert store.partner("customer", "erp", "1") is None

    # the customer created again in the ERP under its old key, with the values it had
    erp.put("customers", "1", {"name": "Acme", "crm_id": None})
    back = await engine.sync()
    assert back.total("created") == 1
    new = live_in_crm(crm)["1"]
    assert new != old
    assert store.partner("customer", "erp", "1") == new
    assert erp.records["customers"]["1"]["crm_id"] == new
    assert store.stats("legacy")["links"] == {"customer": 2}

    # another process repairs nothing more, and the pass after writes nothing
    again = await started(DELETE, store, erp, crm)
    await again.sync()
    assert (await again.sync()).writes == 0
    assert store.partners("customer", "erp", ["1", "2"]) == {
        "1": new,
        "2": live_in_crm(crm)["2"],
    }


async def test_archive_survivors_keep_their_links_when_the_policy_becomes_delete(
    store: StateStore, url: str, erp: MemoryConnector, crm: MemoryConnector
) -> None:
    engine = await started(ARCHIVE, store, erp, crm)
    for key in ("1", "2", "3"):
        erp.put("customers", key, {"name": f"Customer {key}", "active": "Y"})
    await engine.sync()
    keys = live_in_crm(crm)
    crm.remove("Account", keys["1"])  # archive: the ERP record is flagged
    erp.remove("customers", "2")  # archive: the CRM record goes to the recycle bin
    await engine.sync()
    await engine.sync()
    assert erp.records["customers"]["1"]["active"] == "N"
    assert live_in_crm(crm).keys() == {"3"}
    assert store.stats("legacy")["links"] == {"customer": 3}
    upgrade(store, url)

    switched = await started(DELETE, store, erp, crm)
    await switched.sync()

    assert store.partners("customer", "erp", ["1", "2", "3"]) == keys
    assert store.stats("legacy")["links"] == {"customer": 3}


async def test_a_delete_archived_after_the_upgrade_keeps_its_link_when_the_policy_becomes_delete(
    store: StateStore, url: str, erp: MemoryConnector, crm: MemoryConnector
) -> None:
    engine = await started(ARCHIVE, store, erp, crm)
    erp.put("customers", "1", {"name": "Acme", "active": "Y"})
    erp.put("customers", "2", {"name": "Beta", "active": "Y"})
    await engine.sync()
    keys = live_in_crm(crm)
    upgrade(store, url)
    erp.remove("customers", "1")  # archived by this release: the CRM record deleted, linked
    await engine.sync()
    await engine.sync()
    assert live_in_crm(crm).keys() == {"2"}

    switched = await started(DELETE, store, erp, crm)
    await switched.sync()

    assert store.partners("customer", "erp", ["1", "2"]) == keys
