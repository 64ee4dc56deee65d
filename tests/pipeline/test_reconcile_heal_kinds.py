"""``reconcile --heal`` repairs each kind of drift exactly, by the side that changed.

A duplicate in the CRM (an unlinked record carrying the ERP id of a record linked to another
CRM record) is reported as such and left to a person: healing it as "missing in the ERP"
created the ERP record a second time. A drift that one system made behind the change
stream is repaired from the side that changed, not by the clocks: an ERP row without a
change-log entry reads as modified at the epoch, and ``newest_wins`` took the CRM's older
value over the ERP's edit (and wrote the ERP twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.connectors.base import Change, EntityBinding
from tandem.pipeline.engine import Engine
from tandem.pipeline.reconcile import reconcile

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEWEST_WINS = MEMORY_FLOW.replace("owner: erp\n", "owner: both\n    conflict: newest_wins\n")


class NoChangeLog(MemoryConnector):
    """An ERP whose rows have no change-log entry: read by key, they are stamped the epoch
    (as the SQL connector stamps them)."""

    async def read_records(self, binding: EntityBinding, keys: Sequence[str]) -> dict[str, Change]:
        found = await super().read_records(binding, keys)
        return {k: Change(k, c.fields, EPOCH) for k, c in found.items()}


async def synced(tmp_path: Path, flow: str, erp: MemoryConnector) -> tuple[Engine, MemoryConnector]:
    crm = MemoryConnector("crm", key_prefix="001")
    engine = memory_engine(tmp_path, flow, erp, crm)
    erp.put("customers", "1", {"name": "Acme", "phone": None})
    erp.put("customers", "2", {"name": "Globex", "phone": None})
    await engine.prepare()
    await engine.sync()
    await engine.sync()  # the ERP's write-back of the CRM keys is read
    assert (await reconcile(engine)).differences == 0
    return engine, crm


def partner(engine: Engine, erp_key: str) -> str:
    key = engine.store.partner("customer", "erp", erp_key)
    assert key is not None
    return key


async def test_a_duplicate_in_the_crm_is_reported_and_not_created_again_in_the_erp(
    tmp_path: Path,
) -> None:
    erp = MemoryConnector("erp")
    engine, crm = await synced(tmp_path, MEMORY_FLOW, erp)
    crm.put("Account", "001dup", {"Name": "Acme", "Phone": None, "ERP_Id": "1"})

    found = await reconcile(engine)
    assert found.entities["customer"].drift == {"duplicate_in_crm": 1}
    (drift,) = found.drifts
    assert (drift.kind, drift.erp_key, drift.crm_key) == ("duplicate_in_crm", "1", "001dup")
    assert partner(engine, "1") in drift.message

    report = await reconcile(engine, heal=True)
    assert report.healed == 0 and report.unrepaired == 1
    assert sorted(erp.records["customers"]) == ["1", "2"]  # no second Acme
    assert crm.records["Account"]["001dup"]["ERP_Id"] == "1"
    assert (await reconcile(engine)).entities["customer"].drift == {"duplicate_in_crm": 1}


async def test_an_unlinked_crm_record_whose_twin_is_gone_is_missing_not_a_duplicate(
    tmp_path: Path,
) -> None:
    erp = MemoryConnector("erp")
    engine, crm = await synced(tmp_path, MEMORY_FLOW, erp)
    del crm.records["Account"][partner(engine, "1")]
    crm.put("Account", "001new", {"Name": "Acme", "Phone": None, "ERP_Id": "1"})

    found = await reconcile(engine)
    assert found.entities["customer"].drift == {"missing_in_crm": 1, "missing_in_erp": 1}


async def test_heal_under_newest_wins_keeps_an_erp_edit_without_a_change_log_entry(
    tmp_path: Path,
) -> None:
    erp = NoChangeLog("erp")
    engine, crm = await synced(tmp_path, NEWEST_WINS, erp)
    erp.records["customers"]["1"]["name"] = "Acme Ltd"  # not captured: no change-log entry
    before = erp.write_calls, crm.write_calls

    report = await reconcile(engine, heal=True)

    assert report.healed == 1 and report.unrepaired == 0
    assert erp.records["customers"]["1"]["name"] == "Acme Ltd"
    assert crm.records["Account"][partner(engine, "1")]["Name"] == "Acme Ltd"
    assert (erp.write_calls, crm.write_calls) == (before[0], before[1] + 1)
    assert (await reconcile(engine)).differences == 0


async def test_heal_under_newest_wins_takes_a_crm_edit_made_behind_the_stream(
    tmp_path: Path,
) -> None:
    erp = NoChangeLog("erp")
    engine, crm = await synced(tmp_path, NEWEST_WINS, erp)
    crm.records["Account"][partner(engine, "2")]["Name"] = "Globex Corp"
    before = erp.write_calls, crm.write_calls

    report = await reconcile(engine, heal=True)

    assert report.healed == 1 and report.unrepaired == 0
    assert erp.records["customers"]["2"]["name"] == "Globex Corp"
    assert (erp.write_calls, crm.write_calls) == (before[0] + 1, before[1])
    assert (await reconcile(engine)).differences == 0


ONE_WAY = (
    MEMORY_FLOW.replace("direction: both", "direction: erp_to_crm")
    .replace(", external_id: crm_id", "")
    .replace(", owner: crm", "")
    .replace("    owner: erp\n", "")
)


async def test_a_pair_whose_link_was_never_committed_is_one_difference_and_healed(
    tmp_path: Path,
) -> None:
    # A pass killed after the CRM took its batch and before the state committed the links:
    # each CRM record carries its ERP id, and neither half is linked.
    erp = MemoryConnector("erp")
    engine, crm = await synced(tmp_path, ONE_WAY, erp)
    crm_keys = [partner(engine, "1"), partner(engine, "2")]
    engine.store.unlink_many("customer", "erp", ["1", "2"])

    found = await reconcile(engine)
    assert found.differences == 2  # one per record, not one per half
    assert found.entities["customer"].drift == {"missing_in_crm": 2}
    assert [d.message for d in found.drifts] == [
        f"not linked to CRM record {k}, which carries its ERP id" for k in crm_keys
    ]

    report = await reconcile(engine, heal=True)
    assert report.healed == 2 and report.unrepaired == 0  # the exit code says: repaired
    assert sorted(crm.records["Account"]) == sorted(crm_keys)  # linked again, none created
    assert [partner(engine, k) for k in ("1", "2")] == crm_keys
    assert (await reconcile(engine)).differences == 0
