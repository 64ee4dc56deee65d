"""``copy_store`` moves everything the next pass needs, not only the queues and the links."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tandem.errors import StoreError
from tandem.store import AuditEntry, StateStore
from tandem.store.legacy import BOUNDARY
from tandem.store.owner import OWNER, STORE_WIDE
from tandem.store.schema import memo
from tandem.store.transfer import copy_store

AT = datetime(2024, 5, 1, 10, 0, 0, 1, tzinfo=UTC)
BIG = "é" * 1_000_000
KEY = "ü" * 254 + "K"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store of this test alone, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/target/state.db"
    url: str = request.getfixturevalue("pg_fresh_url")
    return url


def test_copy_keeps_memos_and_schema_snapshots(tmp_path: Path, target_url: str) -> None:
    source_url = f"sqlite:///{tmp_path}/source.db"
    with StateStore(source_url, auto_migrate=True) as source:
        source.bind_flow("f")
        source.save_memo("f", "crm.learned", {"bulk_seconds_per_row": 0.002})
        source.save_schema_snapshot("f", "crm", "Account", {"Name": {"type": "string"}})
        source.audit([AuditEntry("f", "customer", "crm", KEY, "update", None, {"n": BIG}, KEY, AT)])
        source.add_dead_letter(
            flow="f", entity="customer", side="erp", record_key=KEY, message="x", payload={"n": BIG}
        )
    copied = copy_store(source_url, target_url)
    assert copied["tandem_memo"] == 2
    assert copied["tandem_schema_snapshot"] == 1
    with StateStore(target_url) as target:
        assert target.memo("f", "crm.learned") == {"bulk_seconds_per_row": 0.002}
        assert target.schema_snapshot("f", "crm", "Account") == {"Name": {"type": "string"}}
        # the store still belongs to its flow: another flow pointed at the copy is refused
        with pytest.raises(StoreError, match="holds the state of flow 'f'"):
            target.bind_flow("other")
        entry = target.audit_log(flow="f")[0]
        assert entry.record_key == KEY
        assert entry.after == {"n": BIG}
        assert target.dead_letters(flow="f")[0].payload == {"n": BIG}


def test_copy_keeps_the_mark_of_the_legacy_link_repair(tmp_path: Path, target_url: str) -> None:
    """The boundary migration 0005 left is the evidence the repair of old links runs on."""
    source_url = f"sqlite:///{tmp_path}/source.db"
    with StateStore(source_url, auto_migrate=True) as source:
        source.audit([AuditEntry("f", "customer", "crm", "C1", "delete", None, None, "erp:", AT)])
        mark = {"first_id": 1, "last_id": 1, "last_at": AT}
        source.save_memo(STORE_WIDE, BOUNDARY, mark)
    copy_store(source_url, target_url)
    with StateStore(target_url) as target:
        assert target.memo(STORE_WIDE, BOUNDARY) == mark


def test_copy_refuses_a_target_bound_to_a_flow(tmp_path: Path, target_url: str) -> None:
    """A target that holds only a memo (a flow bound it, nothing synced yet) is not empty."""
    source_url = f"sqlite:///{tmp_path}/source.db"
    with StateStore(source_url, auto_migrate=True) as source:
        source.bind_flow("f")
    with StateStore(target_url, auto_migrate=True) as target:
        target.bind_flow("other")
    with pytest.raises(StoreError, match="already holds rows in tandem_memo"):
        copy_store(source_url, target_url)
    engine = sa.create_engine(target_url)
    try:
        with engine.connect() as conn:
            owner = conn.execute(sa.select(memo.c.value).where(memo.c.name == OWNER)).scalar()
    finally:
        engine.dispose()
    assert owner == "other"


def test_copy_refuses_a_source_an_engine_is_working_on(tmp_path: Path) -> None:
    source_url = f"sqlite:///{tmp_path}/source.db"
    target_url = f"sqlite:///{tmp_path}/target.db"
    with StateStore(source_url, auto_migrate=True) as source:
        source.acquire_lease("flow:f", "host:42:a", 120)
        with pytest.raises(StoreError, match=r"in use: host:42:a holds 'flow:f'; stop that engine"):
            copy_store(source_url, target_url)
        source.release_lease("flow:f", "host:42:a")
    assert copy_store(source_url, target_url)["tandem_link"] == 0
