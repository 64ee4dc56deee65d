"""The state store: everything Tandem must remember between passes, in one SQL database.

ID cross-reference, the last synced version of each record, change-stream cursors, dead
letters, conflicts, the work queue, the audit log and leases. SQLite by default; PostgreSQL or
MariaDB by URL. See docs/state.md.

Example::

    store = StateStore("sqlite:///.tandem/state.db")
    store.migrate()
    with store.transaction():
        store.save_synced(states)
        store.set_cursor("erp-to-crm", "customer", "erp", cursor)
        store.audit(entries)
"""

from tandem.store.leases import Lease
from tandem.store.presence import StateFile, holds_state, state_location
from tandem.store.records import (
    AuditEntry,
    Conflict,
    DeadLetter,
    Side,
    SyncedState,
    WorkItem,
)
from tandem.store.store import StateStore
from tandem.store.transfer import copy_store

__all__ = [
    "AuditEntry",
    "Conflict",
    "DeadLetter",
    "Lease",
    "Side",
    "StateFile",
    "StateStore",
    "SyncedState",
    "WorkItem",
    "copy_store",
    "holds_state",
    "state_location",
]
