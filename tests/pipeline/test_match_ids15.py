"""A Salesforce Id named in its 15-character form is the record of its 18-character form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from memory_connector import MemoryConnector
from memory_engine import MEMORY_FLOW, memory_engine

from tandem.pipeline.matching import salesforce_id18

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def plain_id18(id15: str) -> str:
    """The suffix by its documented steps: 3 chunks of 5, each reversed, upper-case letters
    as 1 and anything else as 0, the binary number indexing A-Z0-5."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = "".join("1" if "A" <= c <= "Z" else "0" for c in reversed(chunk))
        suffix += ALPHABET[int(bits, 2)]
    return id15 + suffix


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001D000000IRFma", "001D000000IRFmaIAH"),  # Salesforce's help on converting Ids
        ("0019000000B98de", "0019000000B98deAAB"),  # the published worked examples
        ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
        ("500x000000003TR", "500x000000003TRAAY"),
        ("000000000000000", "000000000000000AAA"),
        ("ZZZZZZZZZZZZZZZ", "ZZZZZZZZZZZZZZZ555"),
        ("AbCdEfGhIjKlMnO", "AbCdEfGhIjKlMnOVKV"),
    ],
)
def test_known_pairs(id15: str, id18: str) -> None:
    assert plain_id18(id15) == id18
    assert salesforce_id18(id15) == id18
    assert salesforce_id18(id18) == id18  # already the 18-character form


@pytest.mark.parametrize(
    "other", ["", "1", "001D000000IRFm", "001D000000IRFmaI", "001D00000-IRFma"]
)
def test_anything_else_is_kept(other: str) -> None:
    assert salesforce_id18(other) == other


@given(
    st.text(
        alphabet="0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        min_size=15,
        max_size=15,
    )
)
def test_the_suffix_is_its_definition(id15: str) -> None:
    id18 = salesforce_id18(id15)
    assert id18 == plain_id18(id15)
    # case-safe: the suffix tells apart two Ids that differ only in case
    swapped = salesforce_id18(id15.swapcase())
    assert (id18.upper() == swapped.upper()) == (id15 == id15.swapcase())


def customers(system: MemoryConnector) -> dict[str, dict[str, Any]]:
    return system.records.get("customers", {})


def accounts(system: MemoryConnector) -> dict[str, dict[str, Any]]:
    return system.records.get("Account", {})


async def test_a_15_character_id_names_the_salesforce_record(tmp_path: Path) -> None:
    erp, crm = MemoryConnector("erp"), MemoryConnector("salesforce", key_prefix="001")
    engine = memory_engine(tmp_path, MEMORY_FLOW, erp, crm)
    crm.put("Account", "001D000000IRFmaIAH", {"Name": "Acme", "Phone": None})
    erp.put("customers", "1", {"name": "Acme", "phone": None, "crm_id": "001D000000IRFma"})
    await engine.prepare()

    await engine.sync()

    assert list(accounts(crm)) == ["001D000000IRFmaIAH"]  # not a second Acme
    assert accounts(crm)["001D000000IRFmaIAH"]["ERP_Id"] == "1"
    assert engine.store.partners("customer", "erp", ["1"]) == {"1": "001D000000IRFmaIAH"}


async def test_a_15_character_key_of_another_system_is_kept(tmp_path: Path) -> None:
    # only Salesforce has two forms of an Id: an ERP key of 15 letters and digits is a key
    erp, crm = MemoryConnector("erp"), MemoryConnector("salesforce", key_prefix="001")
    engine = memory_engine(tmp_path, MEMORY_FLOW, erp, crm)
    erp.put("customers", "CUSTOMER0000001", {"name": "Acme", "phone": None})
    crm.put("Account", "001A", {"Name": "Acme", "Phone": None, "ERP_Id": "CUSTOMER0000001"})
    await engine.prepare()

    await engine.sync()

    assert list(customers(erp)) == ["CUSTOMER0000001"]  # not a second Acme in the ERP
    assert engine.store.partners("customer", "crm", ["001A"]) == {"001A": "CUSTOMER0000001"}
