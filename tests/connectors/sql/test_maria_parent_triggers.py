"""MariaDB: install, status and the stale-trigger cleanup agree on the parent triggers.

Which (foreign key, event) pairs of a captured table get a trigger on the parent, and under
which name, was decided twice: once by ``cascade_triggers`` (install) and once again by
``missing_more`` (status). Now one generator (:func:`parent_triggers`) decides it for both.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tandem.connectors.sql.capture.cascades import (
    ForeignKey,
    _cascade_names,
    cascade_triggers,
    parent_triggers,
)
from tandem.connectors.sql.capture.mysql import _Mysql

CL = "tandem_changelog"


def _none(table: str) -> list[ForeignKey]:
    return []  # no table above the parent


@pytest.fixture
def dialect() -> Iterator[_Mysql]:
    engine = sa.create_engine("mysql+pymysql://nobody@127.0.0.1/none")  # never connects
    try:
        yield _Mysql(engine, CL, None, "tandem_changes")
    finally:
        engine.dispose()


def _fk(name: str, on_delete: str, on_update: str, *, column: str = "cust") -> ForeignKey:
    return ForeignKey(name, "cont", "cust", on_delete, on_update, (column,), ("id",), False)


FKS = [
    _fk("a", "CASCADE", "CASCADE"),
    _fk("b", "SET NULL", "RESTRICT"),
    _fk("c", "RESTRICT", "SET NULL"),
    _fk("d", "SET DEFAULT", "NO ACTION"),
    _fk("e", "CASCADE", "CASCADE", column="id"),  # ON UPDATE changes the child's key
    ForeignKey("f", "cont", "cust", "CASCADE", "CASCADE", ("cust",), ("id",), True),
]


def test_the_generator_yields_what_install_creates(dialect: _Mysql) -> None:
    wanted = list(parent_triggers(CL, FKS, "id", _none))
    assert [(t.fk.name, t.event, t.rule) for t in wanted] == [
        ("a", "DELETE", "CASCADE"),
        ("a", "UPDATE", "CASCADE"),
        ("b", "DELETE", "SET NULL"),
        ("c", "UPDATE", "SET NULL"),
        ("e", "DELETE", "CASCADE"),
        ("e", "UPDATE", "CASCADE"),  # a key change (capture release 5)
    ]
    assert list(cascade_triggers(dialect, FKS, "id", "integer", _none)) == [t.name for t in wanted]
    # Every name is one the stale-trigger cleanup recognises as the child's.
    assert _cascade_names(CL, "cont", [t.name for t in wanted]) == {t.name for t in wanted}


def test_without_the_key_only_the_delete_triggers_are_yielded() -> None:
    unknown = [(t.fk.name, t.event) for t in parent_triggers(CL, FKS, None, _none)]
    assert unknown == [("a", "DELETE"), ("b", "DELETE"), ("e", "DELETE")]


def test_a_chain_above_the_parent_gets_its_own_trigger_the_cleanup_knows() -> None:
    top = ForeignKey("up", "cust", "top", "CASCADE", "RESTRICT", ("top",), ("id",), False)
    looped = ForeignKey("loop", "top", "cust", "CASCADE", "RESTRICT", ("c",), ("id",), False)
    tree = ForeignKey("tree", "top", "top", "CASCADE", "RESTRICT", ("up",), ("id",), False)
    above = {"cust": [top], "top": [looped, tree]}

    def fks_of(table: str) -> list[ForeignKey]:
        return above.get(table, [])

    wanted = list(parent_triggers(CL, [_fk("a", "CASCADE", "RESTRICT")], "id", fks_of))
    # One on the parent, one on the table above it; not round the cycle back to the parent,
    # and not again through the self-reference (the trigger's query takes that tree).
    assert [(t.table, [f.name for f in t.via]) for t in wanted] == [("cust", []), ("top", ["up"])]
    assert len({t.name for t in wanted}) == 2
    assert _cascade_names(CL, "cont", [t.name for t in wanted]) == {t.name for t in wanted}
