"""MariaDB: the rows a foreign key's action deletes or changes reach the change log.

InnoDB runs ``ON DELETE CASCADE`` / ``SET NULL`` and ``ON UPDATE CASCADE`` / ``SET NULL``
below the SQL layer and fires no trigger for the child rows: before the fix a contact deleted
with its customer left no change-log entry (only ``tandem reconcile`` found it), and
``install-capture`` merely warned. Now a trigger on the parent logs those child rows, with the
capture (replaced and dropped with it); the warning names only what stays uncovered.
Cascades in turn and self-references: ``test_maria_cascade_chains``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from cascade_pair import Pair

from tandem.connectors.base import Change
from tandem.connectors.sql.capture import uninstall_capture

pytestmark = pytest.mark.mariadb

CASCADES = "tandem.connectors.sql.capture.mysql"


def _seen(changes: list[Change]) -> dict[str, tuple[bool, Any]]:
    return {c.key: (c.deleted, c.fields.get("cust")) for c in changes}


@pytest.mark.parametrize("parent_captured", [False, True])
async def test_a_cascaded_delete_reads_as_the_childs_delete(
    make_pair: Callable[..., Pair], parent_captured: bool
) -> None:
    pair = make_pair("ON DELETE CASCADE")
    pair.install(pair.child, *([pair.parent] if parent_captured else []))
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 1")
    assert _seen(await pair.child_changes()) == {"10": (True, None), "11": (True, None)}
    children = sorted(r for r in pair.logged() if r[0] == pair.child)
    assert children == [(pair.child, "10", "D"), (pair.child, "11", "D")]
    if parent_captured:
        assert (pair.parent, "1", "D") in pair.logged()


async def test_set_null_on_delete_reads_as_an_update_with_the_null(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON DELETE SET NULL")
    pair.install()
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 1")
    assert _seen(await pair.child_changes()) == {"10": (False, None), "11": (False, None)}


@pytest.mark.parametrize("action", ["ON UPDATE CASCADE", "ON UPDATE SET NULL"])
async def test_an_update_of_the_referenced_key_reads_as_the_childs_update(
    make_pair: Callable[..., Pair], action: str
) -> None:
    pair = make_pair(action)
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
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON DELETE CASCADE ON UPDATE CASCADE")
    pair.install()
    on_parent = pair.triggers(pair.parent)
    assert len(on_parent) == 2 and all(n.startswith(pair.changelog + "_") for n in on_parent)
    pair.install()
    assert pair.triggers(pair.parent) == on_parent
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 2")
    assert pair.logged() == [(pair.child, "20", "D")]  # once, not once per install
    uninstall_capture(pair.engine, [pair.child], changelog_table=pair.changelog)
    assert pair.triggers(pair.parent) == {} and pair.triggers(pair.child) == {}
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 1")
    assert pair.logged() == [(pair.child, "20", "D")]


async def test_a_foreign_key_made_restrict_loses_its_parent_trigger_on_reinstall(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON DELETE CASCADE")
    pair.install()
    pair.run(
        f"ALTER TABLE {pair.child} DROP FOREIGN KEY {pair.child}_fk",
        f"ALTER TABLE {pair.child} ADD CONSTRAINT {pair.child}_fk FOREIGN KEY (cust) "
        f"REFERENCES {pair.parent} (id) ON DELETE RESTRICT",
    )
    pair.install()
    assert pair.triggers(pair.parent) == {}


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CASCADES]


@pytest.mark.parametrize(
    "action", ["ON DELETE CASCADE", "ON DELETE SET NULL", "ON DELETE CASCADE ON UPDATE SET NULL"]
)
def test_a_covered_foreign_key_is_not_warned_of(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture, action: str
) -> None:
    pair = make_pair(action)
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    assert _warned(caplog) == []


def test_an_update_cascade_of_the_childs_own_key_is_logged_as_a_key_change(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture
) -> None:
    # Warned of until capture release 5 (test_maria_cascade_key_update has the rest).
    pair = make_pair("ON DELETE CASCADE ON UPDATE CASCADE", fk_column="id")
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    assert _warned(caplog) == []
    pair.run(f"UPDATE {pair.parent} SET id = 5 WHERE id = 2")
    pair.run(f"DELETE FROM {pair.parent} WHERE id = 1")
    assert pair.logged() == [(pair.child, "2", "D"), (pair.child, "5", "U"), (pair.child, "1", "D")]


async def test_a_multi_column_foreign_key_logs_its_child_rows(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON DELETE RESTRICT")  # names only; the tables are made here
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
