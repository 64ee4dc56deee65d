"""MariaDB: cascades in turn and self-references reach the change log.

InnoDB fires no trigger for the rows a foreign key's action deletes, so neither for the rows
those deletes cascade into further down. Before the fix a grandparent's ``ON DELETE
CASCADE`` that went on into a captured child through its parent, and the descendants a
self-referencing ``ON DELETE CASCADE`` deleted beyond the direct children, left no entry
(``install-capture`` only warned). Now the ``BEFORE DELETE`` trigger of the table whose
delete starts the cascade logs the whole tree of rows it will delete (a recursive query).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import pytest
from cascade_pair import Pair

from tandem.connectors.sql import capture_status

pytestmark = pytest.mark.mariadb

CASCADES = "tandem.connectors.sql.capture.mysql"


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CASCADES]


def _with_grandparent(pair: Pair, action: str = "ON DELETE CASCADE") -> str:
    """A table above the pair's parent (ids 7 and 8), whose foreign key has ``action``; its
    name. Parent 1 belongs to 7, parent 2 to 8."""
    top = f"top_{uuid.uuid4().hex[:8]}"
    pair.run(
        f"CREATE TABLE {top} (id INT PRIMARY KEY)",
        f"INSERT INTO {top} VALUES (7), (8)",
        f"ALTER TABLE {pair.parent} ADD COLUMN top INT",
        f"UPDATE {pair.parent} SET top = 6 + id",
        f"ALTER TABLE {pair.parent} ADD CONSTRAINT {pair.parent}_fk FOREIGN KEY (top) "
        f"REFERENCES {top} (id) {action}",
    )
    return top


def _tree(pair: Pair, action: str) -> str:
    """A self-referencing table (1 <- 2 <- 3 <- 4, 1 <- 5, 6 alone) whose foreign key ``up``
    has ``action``; its name."""
    tree = pair.child + "t"
    pair.run(
        f"CREATE TABLE {tree} (id INT PRIMARY KEY, up INT, "
        f"CONSTRAINT {tree}_fk FOREIGN KEY (up) REFERENCES {tree} (id) {action})",
        f"INSERT INTO {tree} VALUES (1, NULL), (2, 1), (3, 2), (4, 3), (5, 1), (6, NULL)",
    )
    return tree


@pytest.mark.parametrize(
    ("action", "op"), [("ON DELETE CASCADE", "D"), ("ON DELETE SET NULL", "U")]
)
def test_a_grandparents_cascade_logs_the_grandchildren(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture, action: str, op: str
) -> None:
    pair = make_pair(action)
    top = _with_grandparent(pair)
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    assert _warned(caplog) == []
    pair.run(f"DELETE FROM {top} WHERE id = 7")
    assert sorted(pair.logged()) == [(pair.child, "10", op), (pair.child, "11", op)]


def test_a_chain_trigger_is_checked_by_the_status_and_dropped_with_its_foreign_key(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON DELETE CASCADE")
    top = _with_grandparent(pair)
    pair.install()
    [name] = pair.triggers(top)
    pair.run(f"DROP TRIGGER {name}")
    status = capture_status(pair.engine, [(pair.child, "id")], changelog_table=pair.changelog)
    [said] = status.missing[pair.child]
    assert name in said and top in said and f"{pair.parent}_fk" in said, said
    pair.install()
    assert list(pair.triggers(top)) == [name]
    pair.run(
        f"ALTER TABLE {pair.parent} DROP FOREIGN KEY {pair.parent}_fk",
        f"ALTER TABLE {pair.parent} ADD CONSTRAINT {pair.parent}_fk FOREIGN KEY (top) "
        f"REFERENCES {top} (id) ON DELETE RESTRICT",
    )
    pair.install()
    assert pair.triggers(top) == {}


def test_a_self_referencing_delete_logs_every_descendant(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture
) -> None:
    pair = make_pair("ON DELETE RESTRICT")  # names only
    tree = _tree(pair, "ON DELETE CASCADE")
    pair.child = tree
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    assert _warned(caplog) == []
    pair.run(f"DELETE FROM {tree} WHERE id = 1")
    assert sorted(pair.logged()) == [(tree, k, "D") for k in ("1", "2", "3", "4", "5")]


def test_a_self_referencing_set_null_logs_the_direct_children_only(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture
) -> None:
    pair = make_pair("ON DELETE RESTRICT")  # names only
    tree = _tree(pair, "ON DELETE SET NULL")
    pair.child = tree
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    assert _warned(caplog) == []
    pair.run(f"DELETE FROM {tree} WHERE id = 1")  # 3 and 4 keep their parents
    assert sorted(pair.logged()) == [(tree, "1", "D"), (tree, "2", "U"), (tree, "5", "U")]


def test_a_child_of_a_self_referencing_parent_is_logged_for_every_deleted_parent(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON DELETE RESTRICT")  # names only
    tree = _tree(pair, "ON DELETE CASCADE")
    leaf = pair.child + "l"
    pair.run(
        f"CREATE TABLE {leaf} (id INT PRIMARY KEY, node INT, "
        f"CONSTRAINT {leaf}_fk FOREIGN KEY (node) REFERENCES {tree} (id) ON DELETE CASCADE)",
        f"INSERT INTO {leaf} VALUES (40, 4), (50, 5), (60, 6)",
    )
    pair.child = leaf
    pair.install()
    pair.run(f"DELETE FROM {tree} WHERE id = 2")
    assert sorted(pair.logged()) == [(leaf, "40", "D")]


def test_a_grandparents_update_cascade_is_still_warned_of(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture
) -> None:
    pair = make_pair("ON DELETE RESTRICT")  # names only
    top, mid, low = pair.parent + "g", pair.parent + "p", pair.child + "c"
    pair.run(
        f"CREATE TABLE {top} (code INT PRIMARY KEY)",
        f"CREATE TABLE {mid} (id INT PRIMARY KEY, code INT, UNIQUE KEY (code), "
        f"CONSTRAINT {mid}_fk FOREIGN KEY (code) REFERENCES {top} (code) ON UPDATE CASCADE)",
        f"CREATE TABLE {low} (id INT PRIMARY KEY, code INT, "
        f"CONSTRAINT {low}_fk FOREIGN KEY (code) REFERENCES {mid} (code) ON UPDATE CASCADE)",
    )
    pair.child = low
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    warned = _warned(caplog)
    assert len(warned) == 1, warned
    assert f"foreign key {low + '_fk'!r} to {mid!r} (ON UPDATE CASCADE)" in warned[0]
    assert f"foreign key {mid + '_fk'!r}" in warned[0]


def test_a_cascade_two_levels_up_logs_the_child_rows(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair("ON DELETE CASCADE")
    top = _with_grandparent(pair)
    root = top + "r"
    pair.run(
        f"CREATE TABLE {root} (id INT PRIMARY KEY)",
        f"INSERT INTO {root} VALUES (100)",
        f"ALTER TABLE {top} ADD COLUMN root INT",
        f"UPDATE {top} SET root = 100 WHERE id = 8",
        f"ALTER TABLE {top} ADD CONSTRAINT {top}_fk FOREIGN KEY (root) "
        f"REFERENCES {root} (id) ON DELETE CASCADE",
    )
    pair.install()
    pair.run(f"DELETE FROM {root} WHERE id = 100")  # top 8, parent 2, child 20
    assert pair.logged() == [(pair.child, "20", "D")]


def test_a_cycle_of_cascades_is_still_warned_of(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture
) -> None:
    pair = make_pair("ON DELETE CASCADE")
    top = _with_grandparent(pair)
    pair.run(
        f"ALTER TABLE {top} ADD COLUMN back INT",
        f"ALTER TABLE {top} ADD CONSTRAINT {top}_fk FOREIGN KEY (back) "
        f"REFERENCES {pair.parent} (id) ON DELETE CASCADE",
    )
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        pair.install()
    warned = _warned(caplog)
    assert len(warned) == 1, warned
    assert f"the rows of {top!r} that its foreign key {top + '_fk'!r}" in warned[0]
    pair.run(f"DELETE FROM {top} WHERE id = 7")  # the chain below the cycle is logged
    assert sorted(pair.logged()) == [(pair.child, "10", "D"), (pair.child, "11", "D")]
