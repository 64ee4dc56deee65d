"""MariaDB test tables for foreign-key actions: a parent (customers) and a captured child
(contacts) whose foreign key has an action, shared by the cascade capture and status tests
(the ``make_pair`` fixture of the sql conftest)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlerp import changes_after

from tandem.connectors.base import Change, EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, install_capture


@dataclass
class Pair:
    """A parent table, its child with a foreign key to it, and the change log's name.

    The parent holds ids 1 and 2; the child, whose foreign key ``<child>_fk`` is on ``cust``,
    rows 10 and 11 of parent 1 and 20 of parent 2 (with the key on ``id`` itself: rows 1 and
    2, ``cust`` NULL).
    """

    engine: sa.Engine
    url: str
    parent: str
    child: str
    changelog: str

    def run(self, *stmts: str) -> None:
        """Run ``stmts`` in one transaction."""
        with self.engine.begin() as conn:
            for stmt in stmts:
                conn.exec_driver_sql(stmt)

    def install(self, *tables: str) -> None:
        """Install the capture of ``tables`` (default: the child), keyed by ``id``, unseeded."""
        install_capture(
            self.engine,
            [(t, "id") for t in tables or (self.child,)],
            changelog_table=self.changelog,
            seed=False,
        )

    def triggers(self, table: str) -> dict[str, str]:
        """The triggers on ``table`` by name, with their event."""
        with self.engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT TRIGGER_NAME, EVENT_MANIPULATION FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s",
                (table,),
            )
            return {str(r[0]): str(r[1]) for r in found}

    def drop_parent_trigger(self, event: str) -> str:
        """Drop the parent's trigger on ``event`` by hand; its name."""
        [name] = [n for n, e in self.triggers(self.parent).items() if e == event]
        self.run(f"DROP TRIGGER {name}")
        return name

    def logged(self) -> list[tuple[Any, ...]]:
        """The change log's ``(table_name, row_key, op)`` entries in order."""
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT table_name, row_key, op FROM {self.changelog} ORDER BY seq"
            )
            return [tuple(r) for r in rows]

    async def child_changes(self) -> list[Change]:
        """The child's changes, as a connector reads them from the start."""
        binding = EntityBinding(name="contact", source=self.child, key="id", fields=("cust",))
        conn = SqlConnector(SqlSettings(url=self.url, changelog_table=self.changelog))
        await conn.open()
        try:
            return await changes_after(conn, binding, None)
        finally:
            await conn.close()


def make_pair(engine: sa.Engine, url: str, action: str, fk_column: str = "cust") -> Pair:
    """A new customer table and contact table (names unique to the call) whose foreign key
    on ``fk_column`` has ``action`` (``ON DELETE CASCADE``, ...)."""
    suffix = uuid.uuid4().hex[:8]
    pair = Pair(engine, url, f"cust_{suffix}", f"cont_{suffix}", f"cl_{suffix}")
    parent, child = pair.parent, pair.child
    pair.run(
        f"CREATE TABLE {parent} (id INT PRIMARY KEY, name VARCHAR(20))",
        f"CREATE TABLE {child} (id INT PRIMARY KEY, cust INT, "
        f"CONSTRAINT {child}_fk FOREIGN KEY ({fk_column}) REFERENCES {parent} (id) {action})",
        f"INSERT INTO {parent} VALUES (1, 'a'), (2, 'b')",
        f"INSERT INTO {child} VALUES (1, NULL), (2, NULL)"
        if fk_column == "id"
        else f"INSERT INTO {child} VALUES (10, 1), (11, 1), (20, 2)",
    )
    return pair
