"""MariaDB: ``capture_status`` checks the triggers on parent tables that log cascaded rows.

A captured child whose foreign key deletes or changes its rows (``ON DELETE CASCADE``, ...)
needs a trigger on the parent (:func:`cascade_triggers`). Before the fix the status looked at
the child's three row triggers only: a parent trigger dropped by hand, or lost when the parent
was rebuilt, went unnoticed while the cascaded deletes were lost again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, capture_status, install_capture
from tandem.connectors.sql.capture import CaptureTable
from tandem.connectors.sql.settings import create_engine

pytestmark = pytest.mark.mariadb


@dataclass
class Pair:
    """A parent table, its child with a foreign key to it, and the change log's name."""

    engine: sa.Engine
    parent: str
    child: str
    changelog: str

    def run(self, *stmts: str) -> None:
        with self.engine.begin() as conn:
            for stmt in stmts:
                conn.exec_driver_sql(stmt)

    def install(self, key: str = "id") -> None:
        install_capture(self.engine, [(self.child, key)], changelog_table=self.changelog)

    def parent_triggers(self) -> dict[str, str]:
        """The parent's triggers by name, with their event."""
        with self.engine.connect() as conn:
            found = conn.exec_driver_sql(
                "SELECT TRIGGER_NAME, EVENT_MANIPULATION FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s",
                (self.parent,),
            )
            return {str(r[0]): str(r[1]) for r in found}

    def drop_parent_trigger(self, event: str) -> str:
        """Drop the parent's trigger on ``event`` by hand; its name."""
        [name] = [n for n, e in self.parent_triggers().items() if e == event]
        self.run(f"DROP TRIGGER {name}")
        return name


@pytest.fixture
def make(mariadb_url: str) -> Iterator[Callable[..., Pair]]:
    """Make a customer table and a contact table whose foreign key has ``action``."""
    engine = create_engine(SqlSettings(url=mariadb_url))

    def made(action: str, fk_column: str = "cust") -> Pair:
        suffix = uuid.uuid4().hex[:8]
        pair = Pair(engine, f"cust_{suffix}", f"cont_{suffix}", f"cl_{suffix}")
        pair.run(
            f"CREATE TABLE {pair.parent} (id INT PRIMARY KEY, name VARCHAR(20))",
            f"CREATE TABLE {pair.child} (id INT PRIMARY KEY, cust INT, CONSTRAINT "
            f"{pair.child}_fk FOREIGN KEY ({fk_column}) REFERENCES {pair.parent} (id) {action})",
        )
        return pair

    try:
        yield made
    finally:
        engine.dispose()


def test_a_dropped_parent_trigger_reads_as_not_installed_until_installed_again(
    make: Callable[..., Pair],
) -> None:
    pair = make("ON DELETE CASCADE")
    pair.install()
    keyed = [CaptureTable(pair.child, "id")]
    status = capture_status(pair.engine, keyed, changelog_table=pair.changelog)
    assert status.tables == {pair.child: True}
    assert status.missing == {}

    gone = pair.drop_parent_trigger("DELETE")
    for tables in (keyed, [(pair.child, "id")], [pair.child]):  # every call form
        status = capture_status(pair.engine, tables, changelog_table=pair.changelog)
        assert status.tables == {pair.child: False}, tables
        [said] = status.missing[pair.child]
        assert gone in said and pair.parent in said and "ON DELETE CASCADE" in said, said

    pair.install()
    status = capture_status(pair.engine, keyed, changelog_table=pair.changelog)
    assert status.tables == {pair.child: True}
    assert status.missing == {}


def test_a_table_named_without_its_key_is_checked_for_its_delete_triggers_only(
    make: Callable[..., Pair],
) -> None:
    pair = make("ON DELETE SET NULL ON UPDATE CASCADE")
    pair.install()
    gone = pair.drop_parent_trigger("UPDATE")
    status = capture_status(pair.engine, [(pair.child, "id")], changelog_table=pair.changelog)
    assert status.tables == {pair.child: False}
    [said] = status.missing[pair.child]
    assert gone in said and "ON UPDATE CASCADE" in said, said
    # Without the key the update trigger's need is unknown (not when the key is the
    # foreign key's column): only the delete side is checked.
    status = capture_status(pair.engine, [pair.child], changelog_table=pair.changelog)
    assert status.tables == {pair.child: True}
    assert status.missing == {}


def test_an_action_the_capture_cannot_cover_is_not_asked_for(make: Callable[..., Pair]) -> None:
    # The key column is the foreign key's: ON UPDATE CASCADE changes the key itself, which
    # no parent trigger logs (install_capture warns of it); the status does not miss it.
    pair = make("ON UPDATE CASCADE", fk_column="id")
    pair.run(f"INSERT INTO {pair.parent} VALUES (1, 'a')")
    pair.install()
    assert pair.parent_triggers() == {}
    status = capture_status(pair.engine, [(pair.child, "id")], changelog_table=pair.changelog)
    assert status.tables == {pair.child: True}
    assert status.missing == {}


async def test_check_warns_of_a_missing_parent_trigger_at_the_binding(
    make: Callable[..., Pair], mariadb_url: str
) -> None:
    """``tandem check`` (the connector's audit) names the missing trigger at the binding."""
    pair = make("ON DELETE CASCADE")
    pair.install()
    binding = EntityBinding(name="contact", source=pair.child, key="id", fields=("cust",))
    connector = SqlConnector(SqlSettings(url=mariadb_url, changelog_table=pair.changelog))
    await connector.open()
    try:
        assert await connector.audit(binding) == []
        name = pair.drop_parent_trigger("DELETE")
        [finding] = await connector.audit(binding)
    finally:
        await connector.close()
    assert finding.setting == "source" and not finding.error
    assert f"table {pair.child!r} lacks the triggers" in finding.message
    assert name in finding.message and "install-capture" in finding.message
