"""A Salesforce Id named in its 15-character form is the record of its 18-character form: the
pipeline takes a named key in the form the target's ``KeyNormaliser`` gives (the hook itself is
tested in tests/connectors/salesforce/test_sf_ids.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.connectors.base import KeyNormaliser
from tandem.connectors.salesforce.ids import id18


class IdForms(MemoryConnector):
    """A CRM that names a record in two forms, as Salesforce does: the pipeline knows that
    from its connector's key-normalising hook only, never from its system's name."""

    def normalise_key(self, key: str) -> str:
        return id18(key)


def customers(system: MemoryConnector) -> dict[str, dict[str, Any]]:
    return system.records.get("customers", {})


def accounts(system: MemoryConnector) -> dict[str, dict[str, Any]]:
    return system.records.get("Account", {})


async def test_a_15_character_id_names_the_salesforce_record(tmp_path: Path) -> None:
    erp, crm = MemoryConnector("erp"), IdForms("crm", key_prefix="001")
    assert isinstance(crm, KeyNormaliser) and not isinstance(erp, KeyNormaliser)
    engine = memory_engine(tmp_path, MEMORY_FLOW, erp, crm)
    crm.put("Account", "001D000000IRFmaIAH", {"Name": "Acme", "Phone": None})
    erp.put("customers", "1", {"name": "Acme", "phone": None, "crm_id": "001D000000IRFma"})
    await engine.prepare()

    await engine.sync()

    assert list(accounts(crm)) == ["001D000000IRFmaIAH"]  # not a second Acme
    assert accounts(crm)["001D000000IRFmaIAH"]["ERP_Id"] == "1"
    assert engine.store.partners("customer", "erp", ["1"]) == {"1": "001D000000IRFmaIAH"}


async def test_a_15_character_key_of_another_system_is_kept(tmp_path: Path) -> None:
    # only a target with a key-normalising hook has two forms of a key: an ERP key of 15
    # letters and digits is a key
    erp, crm = MemoryConnector("erp"), IdForms("crm", key_prefix="001")
    engine = memory_engine(tmp_path, MEMORY_FLOW, erp, crm)
    erp.put("customers", "CUSTOMER0000001", {"name": "Acme", "phone": None})
    crm.put("Account", "001A", {"Name": "Acme", "Phone": None, "ERP_Id": "CUSTOMER0000001"})
    await engine.prepare()

    await engine.sync()

    assert list(customers(erp)) == ["CUSTOMER0000001"]  # not a second Acme in the ERP
    assert engine.store.partners("customer", "crm", ["001A"]) == {"001A": "CUSTOMER0000001"}
