"""An engine between systems held in memory (``memory_connector``), for the pipeline tests that
need neither a database nor the sandbox: a flow of the test's own, with a fresh state store in
the test's folder."""

from __future__ import annotations

from pathlib import Path

from memory_connector import MemoryConnector

from tandem.config import parse_flow
from tandem.pipeline.context import Systems
from tandem.pipeline.engine import Engine
from tandem.pipeline.events import EventBus
from tandem.store import StateStore

MEMORY_FLOW = """
version: 1
name: mem
state: sqlite:///{state}
connections:
  erp: {{type: sql, url: "sqlite://"}}
  crm: {{type: sql, url: "sqlite://"}}
entities:
  customer:
    model: customer
    direction: both
    owner: erp
    erp: {{source: customers, key: id, external_id: crm_id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id}}
    fields:
      - {{field: name, erp: name, crm: Name}}
      - {{field: phone, erp: phone, crm: Phone, owner: crm}}
"""
"""Customers both ways, owned by the ERP but for the phone, which is the CRM's (a template for
:func:`memory_engine`)."""


def memory_engine(
    folder: Path,
    flow: str,
    erp: MemoryConnector,
    crm: MemoryConnector,
    *,
    bus: EventBus | None = None,
    **fields: object,
) -> Engine:
    """An engine of ``flow`` between ``erp`` and ``crm``, its state store migrated.

    ``flow`` is a template: ``{state}`` becomes a SQLite state store in ``folder``, and
    ``fields`` fill any other fields it has.
    """
    spec = parse_flow(flow.format(state=folder / "state.db", **fields), base_dir=folder)
    store = StateStore(spec.state_url())
    store.migrate()
    return Engine(spec, store, Systems(erp=erp, crm=crm), bus=bus)
