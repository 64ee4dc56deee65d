"""Random edits on both sides, syncs in between: the systems always converge, once.

After any sequence of creates, edits and deletes in either system, with syncs at random
points, two final syncs leave both systems holding the same records with the same values
(each field as its owner last set it), no record twice, and the second sync writes nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memory_connector import MemoryConnector
from memory_engine import memory_engine

FLOW = """
version: 1
name: prop
state: sqlite:///{state}
connections:
  erp: {{type: sql, url: "sqlite://"}}
  crm: {{type: sql, url: "sqlite://"}}
entities:
  customer:
    model: customer
    direction: both
    owner: crm
    conflict: owner_wins
    delete: {{policy: delete}}
    erp: {{source: customers, key: id, external_id: crm_id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id}}
    fields:
      - {{field: name, erp: name, crm: Name}}
      - {{field: phone, erp: phone, crm: Phone, owner: crm}}
      - {{field: number, erp: number, crm: AccountNumber, owner: erp}}
"""

NATIVE = {
    "erp": {"name": "name", "phone": "phone", "number": "number"},
    "crm": {"name": "Name", "phone": "Phone", "number": "AccountNumber"},
}
SOURCE = {"erp": "customers", "crm": "Account"}

names = st.sampled_from(["Acme", "Beta", "Gamma"])
phones = st.sampled_from(["+48 100 200 300", "+48 400 500 600", None])
numbers = st.sampled_from(["C-1", "C-2", "C-3"])
values = {"name": names, "phone": phones, "number": numbers}

operation = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(["erp", "crm"]), names, phones, numbers),
    st.tuples(
        st.just("edit"),
        st.sampled_from(["erp", "crm"]),
        st.integers(0, 9),
        st.sampled_from(["name", "phone", "number"]),
        st.data(),
    ),
    st.tuples(st.just("delete"), st.sampled_from(["erp", "crm"]), st.integers(0, 9)),
    st.tuples(st.just("sync")),
    st.tuples(st.just("refuse"), st.booleans()),
)


def refuse_gamma(op: Any) -> str | None:
    """The CRM refuses every write that would name a record Gamma (a validation rule)."""
    return (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: no Gamma" if op.values.get("Name") == "Gamma" else None
    )


def live(system: MemoryConnector, side: str) -> dict[str, dict[str, Any]]:
    return dict(system.records.get(SOURCE[side], {}))


async def scenario(folder: Path, operations: list[tuple[Any, ...]]) -> None:
    systems = {"erp": MemoryConnector("erp"), "crm": MemoryConnector("crm", key_prefix="001")}
    engine = memory_engine(folder, FLOW, systems["erp"], systems["crm"])
    store = engine.store
    await engine.prepare()
    made = 0
    for op in operations:
        kind = op[0]
        if kind == "sync":
            await engine.sync()
        elif kind == "refuse":
            systems["crm"].refuse = refuse_gamma if op[1] else (lambda op: None)
        elif kind == "create":
            _, side, name, phone, number = op
            made += 1
            record = {
                NATIVE[side]["name"]: name,
                NATIVE[side]["phone"]: phone,
                NATIVE[side]["number"]: number,
            }
            systems[side].put(SOURCE[side], f"{side[0]}{made}", record)
        else:
            side, index = op[1], op[2]
            keys = sorted(live(systems[side], side))
            if not keys:
                continue
            key = keys[index % len(keys)]
            if kind == "delete":
                systems[side].remove(SOURCE[side], key)
            else:
                field, data = op[3], op[4]
                value = data.draw(values[field])
                systems[side].put(SOURCE[side], key, {NATIVE[side][field]: value})
    await engine.sync()
    # The rule is lifted and every dead letter retried, as `tandem deadletters retry` does.
    systems["crm"].refuse = lambda op: None
    for letter in store.dead_letters(flow="prop", status="open", limit=1000):
        store.enqueue(
            flow="prop",
            entity=letter.entity,
            side=letter.side,
            record_keys=[letter.record_key],
            reason="retry",
        )
    await engine.sync()
    await engine.sync()
    erp_calls, crm_calls = systems["erp"].write_calls, systems["crm"].write_calls
    settled = await engine.sync()
    assert settled.writes == 0
    assert (systems["erp"].write_calls, systems["crm"].write_calls) == (erp_calls, crm_calls)

    erp, crm = live(systems["erp"], "erp"), live(systems["crm"], "crm")
    assert len(erp) == len(crm)
    pairs = store.partners("customer", "erp", list(erp))
    assert sorted(pairs) == sorted(erp)  # every ERP record is linked...
    assert sorted(pairs.values()) == sorted(crm)  # ...to a distinct live CRM record
    for erp_key, crm_key in pairs.items():
        for field in ("name", "phone", "number"):
            assert erp[erp_key].get(NATIVE["erp"][field]) == crm[crm_key].get(
                NATIVE["crm"][field]
            ), (field, erp[erp_key], crm[crm_key])
    store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=25))
def test_both_systems_converge_once_whatever_happens(operations: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(scenario(Path(folder), operations))
