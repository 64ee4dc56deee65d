"""MariaDB: a foreign key's ``ON UPDATE`` action that changes the captured key column itself.

InnoDB fires no trigger for the child rows an ``ON UPDATE CASCADE`` / ``SET NULL`` changes.
Where the foreign key's columns include the child's capture key column (the binding's key: a
primary key, or a UNIQUE column), the row under its old key is gone and, for ``CASCADE``, the
row under its new key has changed. Before the fix the parent got no trigger for such an action
(``install-capture`` only warned), so only ``tandem reconcile`` found either. Now the parent's
``BEFORE UPDATE`` trigger logs them as the child's own ``UPDATE`` trigger logs a key change:
``D`` under the old key, then ``U`` under the new one (none for a key set to NULL).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from cascade_pair import Pair
from sqlerp import changes_after

from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import SqlConnector, SqlSettings, capture_status, install_capture
from tandem.connectors.sql.capture.cascades import cascade_triggers, fk_lookup
from tandem.connectors.sql.capture.mysql import _Mysql

pytestmark = pytest.mark.mariadb

CASCADES = "tandem.connectors.sql.capture.mysql"


def _tables(pair: Pair, parent: str, child: str, rows: tuple[str, str]) -> None:
    """Make ``pair``'s parent and child afresh from column definitions and insert ``rows``."""
    pair.run(
        f"CREATE TABLE {pair.parent}x ({parent})",
        f"CREATE TABLE {pair.child}x ({child.format(parent=pair.parent + 'x')})",
        f"INSERT INTO {pair.parent}x VALUES {rows[0]}",
        f"INSERT INTO {pair.child}x VALUES {rows[1]}",
    )
    pair.parent, pair.child = pair.parent + "x", pair.child + "x"


def _install(pair: Pair, key: str) -> None:
    install_capture(pair.engine, [(pair.child, key)], changelog_table=pair.changelog, seed=False)


async def _read(pair: Pair, key: str, fields: tuple[str, ...]) -> dict[str, tuple[bool, Any]]:
    """The child's changes as the connector reads them: by key, (deleted, fields)."""
    binding = EntityBinding(name="line", source=pair.child, key=key, fields=fields)
    conn = SqlConnector(SqlSettings(url=pair.url, changelog_table=pair.changelog))
    await conn.open()
    try:
        changes = await changes_after(conn, binding, None)
    finally:
        await conn.close()
    return {c.key: (c.deleted, {f: c.fields.get(f) for f in fields}) for c in changes}


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CASCADES]


async def test_a_cascaded_key_change_logs_the_old_key_deleted_and_the_new_updated(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture
) -> None:
    """A customer's extension row keyed by the customer's code (its primary key is the
    foreign key's column): renaming the code renames the extension row's key."""
    pair = make_pair("ON DELETE RESTRICT")  # names only; the tables are made here
    _tables(
        pair,
        "id INT PRIMARY KEY, code VARCHAR(10) NOT NULL UNIQUE",
        "code VARCHAR(10) PRIMARY KEY, note VARCHAR(20), "
        "CONSTRAINT {parent}_fk FOREIGN KEY (code) REFERENCES {parent} (code) "
        "ON UPDATE CASCADE",
        ("(1, 'a'), (2, 'b')", "('a', 'first'), ('b', 'second')"),
    )
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        _install(pair, "code")
    assert _warned(caplog) == []
    pair.run(f"UPDATE {pair.parent} SET code = 'z' WHERE id = 1")
    assert pair.logged() == [(pair.child, "a", "D"), (pair.child, "z", "U")]
    assert await _read(pair, "code", ("note",)) == {
        "a": (True, {"note": None}),
        "z": (False, {"note": "first"}),
    }


async def test_one_column_of_a_multi_column_foreign_key_is_the_key(
    make_pair: Callable[..., Pair],
) -> None:
    """Order lines keyed by their own code, referencing (order_no, code) of a table of
    reserved codes: a change of the code renames the line, one of order_no alone does not."""
    pair = make_pair("ON DELETE RESTRICT")
    _tables(
        pair,
        "order_no INT NOT NULL, code VARCHAR(10) NOT NULL, PRIMARY KEY (order_no, code)",
        "code VARCHAR(10) PRIMARY KEY, order_no INT NOT NULL, qty INT, "
        "CONSTRAINT {parent}_fk FOREIGN KEY (order_no, code) REFERENCES {parent} "
        "(order_no, code) ON UPDATE CASCADE",
        ("(1, 'l1'), (1, 'l2'), (2, 'l3')", "('l1', 1, 5), ('l2', 1, 6), ('l3', 2, 7)"),
    )
    _install(pair, "code")
    pair.run(f"UPDATE {pair.parent} SET code = 'm1' WHERE code = 'l1'")
    pair.run(f"UPDATE {pair.parent} SET order_no = 3 WHERE code = 'l3'")
    assert pair.logged() == [
        (pair.child, "l1", "D"),
        (pair.child, "m1", "U"),
        (pair.child, "l3", "U"),  # its key unchanged: an update, as the child's trigger logs
    ]
    assert await _read(pair, "code", ("order_no", "qty")) == {
        "l1": (True, {"order_no": None, "qty": None}),
        "m1": (False, {"order_no": 1, "qty": 5}),
        "l3": (False, {"order_no": 3, "qty": 7}),
    }


def test_set_null_on_a_key_column_logs_the_old_key_deleted(
    make_pair: Callable[..., Pair],
) -> None:
    """``SET NULL`` on the key column: install refuses a nullable key, but a key column made
    nullable (and given such a foreign key) after install takes the row's key away, which the
    child's own trigger logs as the old key deleted and nothing under the new (no record
    stands for a row without a key). The triggers are those install makes, put in place by
    hand here. On update and on delete of the parent alike."""
    pair = make_pair("ON DELETE RESTRICT")
    _tables(
        pair,
        "code VARCHAR(10) PRIMARY KEY",
        "id INT PRIMARY KEY, ref VARCHAR(10) UNIQUE, note VARCHAR(9), "
        "CONSTRAINT {parent}_fk FOREIGN KEY (ref) REFERENCES {parent} (code) "
        "ON UPDATE SET NULL ON DELETE SET NULL",
        ("('a'), ('b'), ('c')", "(1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', 'w')"),
    )
    _install(pair, "id")  # the change log and the release; ``ref`` install would refuse
    d = _Mysql(pair.engine, pair.changelog, None, "tandem_changes")
    with pair.engine.begin() as conn:
        fks_of = fk_lookup(conn, d)
        made = cascade_triggers(d, fks_of(pair.child), "ref", "text", fks_of)
    assert len(made) == 2  # ON DELETE and ON UPDATE, on the parent
    # Those keyed by ``id`` have the same names: replaced.
    pair.run(*(s.replace("CREATE TRIGGER", "CREATE OR REPLACE TRIGGER", 1) for s in made.values()))
    pair.run(f"DELETE FROM {pair.changelog}")
    pair.run(f"UPDATE {pair.parent} SET code = 'z' WHERE code = 'a'")
    pair.run(f"DELETE FROM {pair.parent} WHERE code = 'b'")
    assert pair.logged() == [(pair.child, "a", "D"), (pair.child, "b", "D")]


async def test_the_new_key_is_rendered_as_the_childs_own_triggers_render_it(
    make_pair: Callable[..., Pair],
) -> None:
    """A ZEROFILL parent column (whose text is padded) referenced by a plain child key, and
    a DATETIME(6) key: the new key's text is the child's, as its own trigger logs it."""
    pair = make_pair("ON DELETE RESTRICT")
    _tables(
        pair,
        "n INT UNSIGNED ZEROFILL PRIMARY KEY, at DATETIME(6) NOT NULL UNIQUE",
        "n INT UNSIGNED PRIMARY KEY, "
        "CONSTRAINT {parent}_fk FOREIGN KEY (n) REFERENCES {parent} (n) ON UPDATE CASCADE",
        ("(5, '2026-01-01 10:00:00'), (8, '2026-01-05 00:00:00')", "(5)"),
    )
    _install(pair, "n")
    pair.run(f"UPDATE {pair.parent} SET n = 7 WHERE n = 5")
    pair.run(f"UPDATE {pair.child} SET n = 8")  # the child's own trigger, for comparison
    assert pair.logged() == [
        (pair.child, "5", "D"),
        (pair.child, "7", "U"),
        (pair.child, "7", "D"),
        (pair.child, "8", "U"),
    ]
    times = pair.child + "t"
    pair.run(
        f"CREATE TABLE {times} (at DATETIME(6) PRIMARY KEY, CONSTRAINT {times}_fk "
        f"FOREIGN KEY (at) REFERENCES {pair.parent} (at) ON UPDATE CASCADE)",
        f"INSERT INTO {times} VALUES ('2026-01-01 10:00:00')",
    )
    pair.child = times
    _install(pair, "at")
    pair.run(f"UPDATE {pair.parent} SET at = '2026-01-02 11:00:00.25' WHERE n = 7")
    pair.run(f"UPDATE {pair.parent} SET at = '2026-01-03 12:00:00' WHERE n = 7")
    assert [r for r in pair.logged() if r[0] == times] == [
        (times, "2026-01-01 10:00:00", "D"),
        (times, "2026-01-02 11:00:00.250000", "U"),
        (times, "2026-01-02 11:00:00.250000", "D"),
        (times, "2026-01-03 12:00:00", "U"),
    ]


def test_status_asks_for_the_key_update_trigger_and_install_puts_it_back(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair("ON UPDATE CASCADE", fk_column="id")
    pair.install()
    gone = pair.drop_parent_trigger("UPDATE")
    status = capture_status(pair.engine, [(pair.child, "id")], changelog_table=pair.changelog)
    assert status.tables == {pair.child: False}
    [said] = status.missing[pair.child]
    assert gone in said and "ON UPDATE CASCADE" in said, said
    pair.install()
    status = capture_status(pair.engine, [(pair.child, "id")], changelog_table=pair.changelog)
    assert status.tables == {pair.child: True} and status.missing == {}
    pair.run(f"UPDATE {pair.parent} SET id = 5 WHERE id = 1")
    assert pair.logged() == [(pair.child, "1", "D"), (pair.child, "5", "U")]


def test_a_parent_in_another_database_is_still_warned_of(
    make_pair: Callable[..., Pair], caplog: pytest.LogCaptureFixture
) -> None:
    pair = make_pair("ON DELETE RESTRICT")
    other = f"other_{pair.changelog}"
    pair.run(
        f"CREATE DATABASE {other}",
        f"CREATE TABLE {other}.{pair.parent}o (code VARCHAR(10) PRIMARY KEY)",
        f"CREATE TABLE {pair.child}o (code VARCHAR(10) PRIMARY KEY, "
        f"CONSTRAINT {pair.child}o_fk FOREIGN KEY (code) REFERENCES {other}.{pair.parent}o "
        "(code) ON UPDATE CASCADE)",
    )
    pair.child += "o"
    try:
        with caplog.at_level(logging.WARNING, logger=CASCADES):
            _install(pair, "code")
        [warned] = _warned(caplog)
        assert f"foreign key {pair.child + '_fk'!r}" in warned and "ON UPDATE CASCADE" in warned
        assert pair.triggers(pair.parent) == {}
    finally:
        pair.run(f"DROP TABLE {pair.child}", f"DROP DATABASE {other}")


async def test_an_install_of_release_4_is_asked_to_run_again(
    make_pair: Callable[..., Pair],
) -> None:
    """Its parent triggers lack the key change: ``tandem check`` says so."""
    pair = make_pair("ON UPDATE CASCADE", fk_column="id")
    pair.install()
    pair.run(f"UPDATE {pair.changelog}_release SET release_no = 4")
    conn = SqlConnector(SqlSettings(url=pair.url, changelog_table=pair.changelog))
    await conn.open()
    try:
        [advice] = await conn.advice()
    finally:
        await conn.close()
    assert "capture release 4; this one installs 5" in advice
    assert "ON UPDATE CASCADE or SET NULL that changes a captured table's key column" in advice
    assert "release 4 logs them" not in advice  # only what release 4 lacks


@pytest.mark.parametrize(
    ("parent_type", "child_type", "covered"),
    [
        ("CHAR(5)", "CHAR(8)", True),
        ("CHAR(5)", "VARCHAR(8)", False),
        ("VARCHAR(5)", "CHAR(8)", False),
    ],
)
def test_a_key_of_another_type_than_the_parents_is_warned_of(
    make_pair: Callable[..., Pair],
    caplog: pytest.LogCaptureFixture,
    parent_type: str,
    child_type: str,
    covered: bool,
) -> None:
    """InnoDB copies a ``CHAR``'s padding into a ``VARCHAR`` (``'xy'`` of a ``CHAR(5)``
    becomes ``'xy   '``), and a ``CHAR`` drops a ``VARCHAR``'s trailing spaces: the new key's
    text is not the parent's. Between columns of one type it is."""
    pair = make_pair("ON DELETE RESTRICT")
    _tables(
        pair,
        f"code {parent_type} PRIMARY KEY",
        f"code {child_type} PRIMARY KEY, CONSTRAINT {{parent}}_fk FOREIGN KEY (code) "
        "REFERENCES {parent} (code) ON UPDATE CASCADE",
        ("('ab')", "('ab')"),
    )
    with caplog.at_level(logging.WARNING, logger=CASCADES):
        _install(pair, "code")
    warned = _warned(caplog)
    if not covered:
        assert len(warned) == 1 and "from a column of another type" in warned[0], warned
        assert pair.triggers(pair.parent) == {}
        return
    assert warned == []
    pair.run(f"UPDATE {pair.parent} SET code = 'xy ' WHERE code = 'ab'")
    pair.run(f"UPDATE {pair.child} SET code = 'xy'")  # the child's own trigger: no key change
    assert pair.logged() == [
        (pair.child, "ab", "D"),
        (pair.child, "xy", "U"),
        (pair.child, "xy", "U"),
    ]
