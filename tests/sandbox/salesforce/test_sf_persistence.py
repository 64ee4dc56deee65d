"""The org file: records survive a restart, the schema can grow, threads do not corrupt it."""

from __future__ import annotations

import threading
from pathlib import Path

from sforg_helpers import V, make_org, q

from tandem.sandbox.salesforce import Org, Schema


def test_records_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    org = make_org(path)
    acc = org.create("Account", {"Name": "Persisted", "ERP_Id__c": "P-1"})
    gone = org.create("Account", {"Name": "Binned"})
    org.delete("Account", gone)
    order = org.create("Order", {"AccountId": acc, "EffectiveDate": "2024-05-01"})
    user, org_id = org.integration_user_id, org.org_id
    org.close()

    again = make_org(path)
    assert again.integration_user_id == user and again.org_id == org_id
    assert again.retrieve("Account", acc, ["Name"], V)["Name"] == "Persisted"
    assert [r["Id"] for r in q(again, "SELECT Id FROM Account", all_rows=True)] == [acc, gone]
    # Counters resume: new ids and auto-numbers do not repeat.
    newer = again.create("Account", {"Name": "New"})
    assert newer > gone
    second = again.create("Order", {"AccountId": acc, "EffectiveDate": "2024-05-02"})
    numbers = [
        again.retrieve("Order", o, ["OrderNumber"], V)["OrderNumber"] for o in (order, second)
    ]
    assert numbers == ["00000001", "00000002"]
    # Only one standard price book and one set of stages, however often the org is opened.
    assert len(q(again, "SELECT Id FROM Pricebook2 WHERE IsStandard = true")) == 1
    assert len(q(again, "SELECT Id FROM OpportunityStage")) == 10
    assert len(q(again, "SELECT Id FROM User")) == 1
    again.close()


def test_hard_deleted_ids_are_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    org = make_org(path, example=False)
    last = org.create("Account", {"Name": "Last"})
    org.delete("Account", last)
    org.empty_recycle_bin([last])
    org.close()
    again = make_org(path, example=False)
    assert again.create("Account", {"Name": "Next"}) > last
    again.close()


def test_schema_can_grow(tmp_path: Path) -> None:
    path = tmp_path / "org.db"
    org = make_org(path, example=False)
    acc = org.create("Account", {"Name": "Before"})
    org.close()
    extra = tmp_path / "more.yaml"
    extra.write_text(
        "objects:\n  Account:\n    fields:\n      Segment__c: {type: string, length: 20}\n"
        "  Visit__c:\n    fields:\n      Account__c: {type: reference, referenceTo: [Account],"
        " relationshipName: Account__r}\n"
    )
    grown = Org(path, Schema.load([extra]))
    grown.update("Account", acc, {"Segment__c": "SMB"})
    visit = grown.create("Visit__c", {"Name": "V1", "Account__c": acc})
    [rec] = q(grown, "SELECT Name, Account__r.Segment__c FROM Visit__c")
    assert rec["Name"] == "V1" and rec["Account__r"]["Segment__c"] == "SMB"
    assert visit.startswith(grown.schema.objects["Visit__c"].key_prefix)
    grown.close()


def test_concurrent_writers(tmp_path: Path) -> None:
    org = make_org(tmp_path / "org.db", example=False)
    errors: list[BaseException] = []
    per_thread, threads = 60, 6

    def writer(n: int) -> None:
        try:
            for i in range(per_thread):
                key = f"T{n}-{i % 20}"  # every key is upserted three times by its thread
                org.upsert("Account", "ERP_Id__c", key, {"Name": f"{key} v{i}"})
                results = org.create_many(
                    [{"attributes": {"type": "Contact"}, "LastName": f"C{n}-{i}"}], False
                )
                assert results[0].success
                q(org, "SELECT Id, Name FROM Account WHERE Name LIKE 'T%' LIMIT 5")
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    pool = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    accounts = q(org, "SELECT ERP_Id__c FROM Account")
    assert len(accounts) == threads * 20
    assert len({a["ERP_Id__c"] for a in accounts}) == threads * 20
    assert len(q(org, "SELECT Id FROM Contact")) == threads * per_thread
    ids = [r["Id"] for r in q(org, "SELECT Id FROM Contact")]
    assert len(set(ids)) == len(ids)
    org.close()
