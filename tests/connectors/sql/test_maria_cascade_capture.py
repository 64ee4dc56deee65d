"""MariaDB: the rows a foreign key's action deletes or changes reach the change log.

InnoDB runs ``ON DELETE CASCADE`` / ``SET NULL`` and ``ON UPDATE CASCADE`` / ``SET NULL``
below the SQL layer and fires no trigger for the child rows: before the fix a contact deleted
with its customer left no change-log entry (only ``tandem reconcile`` found it), and
``install-capture`` merely warned. Now a trigger on the parent logs those child rows, with the
capture (replaced and dropped with it); the warning names only what stays uncovered.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlerp import changes_after

from tandem.connectors.base import Change, EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, install_capture
from tandem.connectors.sql.capture import uninstall_capture
from tandem.connectors.sql.settings import create_engine

pytestmark = pytest.mark.mariadb

CASCADES = "tandem.connectors.sql.capture.mysql"


@dataclass
class Pair:
    """A parent table, its child with a foreign key to it, and the change log's name."""

    engine: sa.Engine
    url: str
    parent: str
    child: str
    changelog: str

    def run(self, *stmts: str) -> None:
        with self.engine.begin() as conn:
            for stmt in stmts:
                conn.exec_driver_sql(stmt)

    def install(self, *tables: str) -> None:
        install_capture(
            self.engine,
            [(t, "id") for t in tables or (self.child,)],
            changelog_table=self.changelog,
            seed=False,
        )

    def triggers(self, table: str) -> set[str]:
        with self.engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s",
                (table,),
            )
            return {str(r[0]) for r in found}

    def logged(self) -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                f"SELECT table_name, row_key, op FROM {self.changelog} ORDER BY seq"
            )
            return [tuple(r) for r in rows]

    async def child_changes(self) -> list[Change]:
        binding = EntityBinding(name="contact", source=self.child, key="id", fields=("cust",))
        conn = SqlConnector(SqlSettings(url=self.url, changelog_table=self.changelog))
        await conn.open()
        try:
            return await changes_after(conn, binding, None)
        finally:
            await conn.close()


@pytest.fixture
def make(mariadb_url: str) -> Iterator[Any]:
    """Make a customer table and a contact table whose foreign key has ``action``."""
    engine = create_engine(SqlSettings(url=mariadb_url))

    def made(action: str, key_is_fk: bool = False) -> Pair:
        suffix = uuid.uuid4().hex[:8]
        parent, child = f"cust_{suffix}", f"cont_{suffix}"
        fk = "id" if key_is_fk else "cust"
        pair = Pair(engine, mariadb_url, parent, child, f"cl_{suffix}")
        pair.run(
            f"CREATE TABLE {parent} (id INT PRIMARY KEY, name VARCHAR(20))",
            f"CREATE TABLE {child} (id INT PRIMARY KEY, cust INT, "
            f"CONSTRAINT {child}_fk FOREIGN KEY ({fk}) REFERENCES {parent} (id) {action})",
            f"INSERT INTO {parent} VALUES (1, 'a'), (2, 'b')",
            f"INSERT INTO {child} VALUES (1, NULL), (2, NULL)"
            if key_is_fk
            else f"INSERT INTO {child} VALUES (10, 1), (11, 1), (20, 2)",
        )
        return pair

    try:
        yield made
    finally:
        engine.dispose()


def _seen(changes: list[Change]) -> dict[str, tuple[bool, Any]]:
    return {c.key: (c.deleted, c.fields.get("cust")) for c in changes}


@pytest.mark.parametrize("parent_captured", [False, True])
async def test_a_cascaded_delete_reads_as_the_childs_delete(
    make: Any, parent_captured: bool
) -> None:
    pair = make("ON DELETE CASCADE")
    pair.install(pair.child, *([pair.parent] if parent_captured else []))
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 1")
    assert _seen(await pair.child_changes()) == {"10": (True, None), "11": (True, None)}
    children = sorted(r for r in pair.logged() if r[0] == pair.child)
    assert children == [(pair.child, "10", "D"), (pair.child, "11", "D")]
    if parent_captured:
        assert (pair.parent, "1", "D") in pair.logged()


async def test_set_null_on_delete_reads_as_an_update_with_the_null(make: Any) -> None:
    pair = make("ON DELETE SET NULL")
    pair.install()
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 1")
    assert _seen(await pair.child_changes()) == {"10": (False, None), "11": (False, None)}


@pytest.mark.parametrize("action", ["ON UPDATE CASCADE", "ON UPDATE SET NULL"])
async def test_an_update_of_the_referenced_key_reads_as_the_childs_update(
    make: Any, action: str
) -> None:
    pair = make(action)
    pair.install(pair.child, pair.parent)
    pair.run(
        f"UPDATE {pair.parent} SET name = 'z' WHERE id = 1",  # the key unchanged: nothing
        f"UPDATE {pair.parent} SET id = 5 WHERE id = 1",
    )
    value = 5 if action == "ON UPDATE CASCADE" else None
    assert _seen(await pair.child_changes()) == {"10": (False, value), "11": (False, value)}
    assert sorted(r for r in pair.logged() if r[0] == pair.child) == [
        (pair.child, "10", "U"),
        (pair.child, "11", "U"),
    ]


async def test_reinstall_is_idempotent_and_uninstall_drops_the_parent_triggers(
    make: Any,
) -> None:
    pair = make("ON DELETE CASCADE ON UPDATE CASCADE")
    pair.install()
    on_parent = pair.triggers(pair.parent)
    assert len(on_parent) == 2 and all(n.startswith(pair.changelog + "_") for n in on_parent)
    pair.install()
    assert pair.triggers(pair.parent) == on_parent
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 2")
    assert pair.logged() == [(pair.child, "20", "D")]  # once, not once per install
    uninstall_capture(pair.engine, [pair.child], changelog_table=pair.changelog)
    assert pair.triggers(pair.parent) == set() and pair.triggers(pair.child) == set()
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 1")
    assert pair.logged() == [(pair.child, "20", "D")]


async def test_a_foreign_key_made_restrict_loses_its_parent_trigger_on_reinstall(
    make: Any,
) -> None:
    pair = make("ON DELETE CASCADE")
    pair.install()
    pair.run(
        f"ALTER TABLE {pair.child} DROP FOREIGN KEY {pair.child}_fk",
        f"ALTER TABLE {pair.child} ADD CONSTRAINT {pair.child}_fk FOREIGN KEY (cust) "
        f"REFERENCES {pair.parent} (id) ON DELETE RESTRICT",
    )
    pair.install()
    assert pair.triggers(pair.parent) == set()


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CASCADES]


@pytest.mark.parametrize(
    "action", ["ON DELETE CASCADE", "ON DELETE SET NULL", "ON DELETE CASCADE ON UPDATE SET NULL"]
)
def test_a_covered_foreign_key_is_not_warned_of(
    make: Any, caplog: pytest.LogCaptureFixture, action: str
) -> None:
    pair = make(action)
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    assert _warned(caplog) == []


def test_an_update_cascade_of_the_childs_own_key_is_still_warned_of(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pair = make("ON DELETE CASCADE ON UPDATE CASCADE", key_is_fk=True)
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    warned = _warned(caplog)
    assert len(warned) == 1, warned
    said = f"table {pair.child!r}: foreign key {pair.child + '_fk'!r} to {pair.parent!r}"
    assert f"{said} (ON UPDATE CASCADE)" in warned[0] and "tandem reconcile" in warned[0]
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 1")  # the delete is covered
    assert pair.logged() == [(pair.child, "1", "D")]


def test_a_cascade_from_the_grandparent_is_still_warned_of(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pair = make("ON DELETE CASCADE")
    top = f"top_{uuid.uuid4().hex[:8]}"
    pair.run(
        f"CREATE TABLE {top} (id INT PRIMARY KEY)",
        f"INSERT INTO {top} VALUES (7)",
        f"ALTER TABLE {pair.parent} ADD COLUMN top INT",
        f"UPDATE {pair.parent} SET top = 7",
        f"ALTER TABLE {pair.parent} ADD CONSTRAINT {pair.parent}_fk FOREIGN KEY (top) "
        f"REFERENCES {top} (id) ON DELETE CASCADE",
    )
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    warned = _warned(caplog)
    assert len(warned) == 1, warned
    said = f"table {pair.child!r}: foreign key {pair.child + '_fk'!r} to {pair.parent!r}"
    assert f"{said} (ON DELETE CASCADE)" in warned[0]
    assert f"foreign key {pair.parent + '_fk'!r}" in warned[0]


async def test_a_multi_column_foreign_key_logs_its_child_rows(make: Any) -> None:
    pair = make("ON DELETE RESTRICT")  # names only; the tables are made here
    parent, child = pair.parent + "m", pair.child + "m"
    pair.run(
        f"CREATE TABLE {parent} (id INT PRIMARY KEY, a INT, b VARCHAR(5), UNIQUE KEY (a, b))",
        f"CREATE TABLE {child} (id INT PRIMARY KEY, a INT, b VARCHAR(5), "
        f"CONSTRAINT {child}_fk FOREIGN KEY (a, b) REFERENCES {parent} (a, b) "
        "ON DELETE CASCADE ON UPDATE CASCADE)",
        f"INSERT INTO {parent} VALUES (1, 1, 'x'), (2, 1, 'y')",
        f"INSERT INTO {child} VALUES (10, 1, 'x'), (20, 1, 'y')",
    )
    pair.child = child
    pair.install()
    pair.run(
        f"UPDATE {parent} SET b = 'z' WHERE id = 1",
        f"DELETE FROM {parent} WHERE id = 2",
    )
    assert pair.logged() == [(child, "10", "U"), (child, "20", "D")]


def test_a_self_reference_logs_the_direct_children_and_warns_of_the_rest(
    make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pair = make("ON DELETE RESTRICT")
    tree = pair.child + "t"
    pair.run(
        f"CREATE TABLE {tree} (id INT PRIMARY KEY, up INT, "
        f"CONSTRAINT {tree}_fk FOREIGN KEY (up) REFERENCES {tree} (id) ON DELETE CASCADE)",
        f"INSERT INTO {tree} VALUES (1, NULL), (2, 1), (3, 2)",
    )
    pair.child = tree
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    warned = _warned(caplog)
    assert len(warned) == 1 and f"foreign key {tree + '_fk'!r} to {tree!r}" in warned[0]
    pair.run(f"DELETE FROM {tree} WHERE id = 1")
    assert pair.logged() == [(tree, "2", "D"), (tree, "1", "D")]  # 3 went unlogged
