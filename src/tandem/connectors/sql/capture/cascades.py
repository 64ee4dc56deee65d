"""MariaDB / MySQL: the triggers on other tables that log the rows of a captured table that
its foreign keys' actions delete or change.

InnoDB runs ``ON DELETE CASCADE`` / ``SET NULL`` and ``ON UPDATE CASCADE`` / ``SET NULL``
below the SQL layer and fires no trigger for the rows they delete or change, nor for the rows
those deletes cascade into in turn. So the table whose own delete or update starts the
action (the parent, or an ancestor whose ``ON DELETE CASCADE`` reaches the parent) gets a
``BEFORE`` trigger that logs the captured rows it will delete or change.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import sqlalchemy as sa

from tandem.connectors.sql.capture.common import KeyKind, _Dialect, _trigger_name

MAX_DEPTH = 15
"""The most foreign keys a chain climbs above the parent: InnoDB refuses a cascade deeper
than 15 levels (the statement fails), so no deeper chain deletes anything."""


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """A foreign key of a captured (child) table, as ``information_schema`` describes it.

    Attributes:
        name: the constraint's name (unique in its database).
        child: the table that has the foreign key.
        parent: the table it references.
        on_delete: its ``DELETE_RULE`` (``CASCADE``, ``SET NULL``, ``RESTRICT``, ...).
        on_update: its ``UPDATE_RULE``.
        columns: the child's columns, in the key's order.
        referenced: the parent's columns they reference, in the same order.
        elsewhere: the parent is in another database than the child.
        unlike: those of ``columns`` of another data type than the column they reference
            (``VARCHAR`` referencing ``CHAR``: InnoDB copies the ``CHAR``'s padding spaces);
            known for an ``ON UPDATE CASCADE`` key only (:func:`foreign_keys`).
    """

    name: str
    child: str
    parent: str
    on_delete: str
    on_update: str
    columns: tuple[str, ...]
    referenced: tuple[str, ...]
    elsewhere: bool
    unlike: tuple[str, ...] = ()

    def acts(self) -> list[tuple[str, str]]:
        """The ``(event, rule)`` pairs whose action deletes or changes child rows."""
        return [
            (event, rule)
            for event, rule in (("DELETE", self.on_delete), ("UPDATE", self.on_update))
            if rule in _ACTIONS
        ]

    def covers(self, event: str, rule: str, key: str | None) -> bool:
        """Whether :func:`cascade_triggers` logs the child rows of this action (keyed by the
        child's ``key`` column; ``None`` when unknown, which no ``ON UPDATE`` action covers:
        whether it changes the key decides what its trigger logs).

        Not ``SET DEFAULT`` (InnoDB refuses it), nor a parent in another database, nor an
        ``ON UPDATE CASCADE`` of the key column from a column of another type (:attr:`unlike`):
        the trigger renders the new key from the parent's value, whose text may not be what
        InnoDB copies into the child's column.
        """
        if rule not in _LOGGED or self.elsewhere:
            return False
        if event == "DELETE":
            return True
        return key is not None and not (rule == "CASCADE" and key in self.unlike)

    def sets(self, columns: Iterable[str]) -> bool:
        """Whether one of this key's actions changes child rows' ``columns`` (without
        deleting the rows: those are :func:`parent_triggers`' chains)."""
        sets = self.on_delete == "SET NULL" or self.on_update in _ACTIONS
        return sets and bool(set(columns) & set(self.columns))

    @property
    def self_cascade(self) -> bool:
        """An ``ON DELETE CASCADE`` of the table to itself: a delete takes the whole tree of
        rows below the deleted one."""
        return self.on_delete == "CASCADE" and self.parent == self.child and not self.elsewhere


def foreign_keys(conn: sa.Connection, d: _Dialect, table: str) -> list[ForeignKey]:
    """The foreign keys of ``table``, by name."""
    query = sa.text(
        "SELECT r.CONSTRAINT_NAME, r.REFERENCED_TABLE_NAME, r.DELETE_RULE, r.UPDATE_RULE, "
        "k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME, "
        "r.UNIQUE_CONSTRAINT_SCHEMA <> r.CONSTRAINT_SCHEMA "
        "FROM information_schema.REFERENTIAL_CONSTRAINTS r "
        "JOIN information_schema.KEY_COLUMN_USAGE k "
        "ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA AND k.TABLE_NAME = r.TABLE_NAME "
        "AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME AND k.REFERENCED_COLUMN_NAME IS NOT NULL "
        "WHERE r.CONSTRAINT_SCHEMA = COALESCE(:schema, DATABASE()) AND r.TABLE_NAME = :table "
        "ORDER BY r.CONSTRAINT_NAME, k.ORDINAL_POSITION"
    )
    rows = conn.execute(query, {"schema": d.schema, "table": table}).all()
    found: dict[str, ForeignKey] = {}
    for name, parent, on_delete, on_update, column, referenced, elsewhere in rows:
        was = found.get(name)
        found[name] = ForeignKey(
            str(name),
            table,
            str(parent),
            str(on_delete),
            str(on_update),
            (*(was.columns if was else ()), str(column)),
            (*(was.referenced if was else ()), str(referenced)),
            bool(elsewhere),
        )
    return [_typed(conn, d, fk) if fk.on_update == "CASCADE" else fk for fk in found.values()]


def _typed(conn: sa.Connection, d: _Dialect, fk: ForeignKey) -> ForeignKey:
    """``fk`` with :attr:`ForeignKey.unlike` filled in (a parent in another database is
    covered by no trigger: left as it is)."""
    if fk.elsewhere:
        return fk
    query = sa.text(
        "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :table"
    )

    def types(table: str) -> dict[str, str]:
        rows = conn.execute(query, {"schema": d.schema, "table": table})
        return {str(name): str(kind).lower() for name, kind in rows}

    mine, theirs = types(fk.child), types(fk.parent)
    unlike = tuple(
        col
        for col, ref in zip(fk.columns, fk.referenced, strict=True)
        if mine.get(col) != theirs.get(ref)
    )
    return replace(fk, unlike=unlike)


ForeignKeysOf = Callable[[str], Sequence[ForeignKey]]
"""The foreign keys of a table, by its name (:func:`fk_lookup`)."""


def fk_lookup(conn: sa.Connection, d: _Dialect) -> ForeignKeysOf:
    """:func:`foreign_keys` of ``conn``, each table's asked for once."""
    known: dict[str, list[ForeignKey]] = {}

    def of(table: str) -> list[ForeignKey]:
        if table not in known:
            known[table] = foreign_keys(conn, d, table)
        return known[table]

    return of


class ParentTrigger(NamedTuple):
    """A trigger on another table that logs the child rows of one foreign-key action.

    Attributes:
        name: the trigger's name (:func:`_cascade_name`).
        fk: the child's foreign key.
        event: ``DELETE`` or ``UPDATE``, the event it fires on.
        rule: the foreign key's rule on ``event`` (``CASCADE`` or ``SET NULL``).
        via: for a trigger above the parent, the ``ON DELETE CASCADE`` foreign keys that
            lead up to its table from the parent (the parent's first); empty on the parent.
    """

    name: str
    fk: ForeignKey
    event: str
    rule: str
    via: tuple[ForeignKey, ...] = ()

    @property
    def table(self) -> str:
        """The table the trigger is on."""
        return self.via[-1].parent if self.via else self.fk.parent

    def said(self) -> str:
        """The trigger in words: name, table, foreign key(s) and action."""
        through = f" through {', '.join(f.name for f in self.via)}" if self.via else ""
        return (
            f"trigger {self.name} on {self.table} "
            f"(foreign key {self.fk.name} ON {self.event} {self.rule}{through})"
        )


def parent_triggers(
    changelog: str, fks: Iterable[ForeignKey], key: str | None, fks_of: ForeignKeysOf
) -> Iterator[ParentTrigger]:
    """The triggers that log the child rows ``fks``' actions delete or change: the one
    choice of which (foreign key, event) pairs get one, on which table and under which name,
    that install (:func:`cascade_triggers`), status (``_Mysql.missing_more``) and the
    cleanup of stale triggers share.

    One on the parent per action :meth:`ForeignKey.covers` (for a child whose key column is
    unknown, ``key`` ``None``, the ``DELETE`` ones only); for a ``DELETE`` one, another on
    each table above the parent whose delete cascades into the parent's rows (:func:`chains`,
    whose foreign keys ``fks_of`` gives).
    """
    for fk in fks:
        for event, rule in fk.acts():
            if not fk.covers(event, rule, key):
                continue
            yield ParentTrigger(_cascade_name(changelog, fk.child, fk.name, event), fk, event, rule)
            if event != "DELETE":
                continue
            for via in chains(fk.parent, fks_of):
                path = "/".join(f.name for f in (fk, *via))
                name = _cascade_name(changelog, fk.child, path, event)
                yield ParentTrigger(name, fk, event, rule, via)


def chains(table: str, fks_of: ForeignKeysOf) -> Iterator[tuple[ForeignKey, ...]]:
    """The chains of ``ON DELETE CASCADE`` foreign keys up from ``table``: a delete in the
    last one's parent deletes rows of ``table`` without a trigger. Not through a table twice
    (a self-reference is the tree below each deleted row, :func:`_doomed`; a longer cycle
    is warned of), nor to a parent in another database (warned of)."""

    def up(
        at: str, via: tuple[ForeignKey, ...], seen: frozenset[str]
    ) -> Iterator[tuple[ForeignKey, ...]]:
        if len(via) >= MAX_DEPTH:
            return
        for f in fks_of(at):
            if f.on_delete == "CASCADE" and not f.elsewhere and f.parent not in seen:
                yield (*via, f)
                yield from up(f.parent, (*via, f), seen | {f.parent})

    yield from up(table, (), frozenset({table}))


def cascade_triggers(
    d: _Dialect, fks: Iterable[ForeignKey], key: str, kind: KeyKind, fks_of: ForeignKeysOf
) -> dict[str, str]:
    """The triggers that log the child rows ``fks``' actions delete or change (``CREATE
    TRIGGER`` statements by trigger name, one per :func:`parent_triggers`).

    A ``BEFORE DELETE`` trigger logs, for ``ON DELETE CASCADE``, each child row that the
    delete takes with it as deleted (``D``), for ``SET NULL`` each one it changes as updated
    (``U``): the rows referencing the deleted row, or, on a table above the parent, the rows
    referencing the parent rows the delete cascades into; each deleted row's tree below it
    too where a table references itself with ``ON DELETE CASCADE`` (a recursive query). A
    ``BEFORE UPDATE`` trigger logs, when a referenced column's value changes (byte for byte,
    as InnoDB compares them), each child row referencing the old values as updated; where the
    foreign key's columns include the ``key`` column, as the child's own ``UPDATE`` trigger
    logs a key change (:func:`_log_key_change`). The key is the child's ``key`` column,
    rendered as its own triggers render it (:meth:`~_Dialect.key_text`). A ``SET NULL`` of
    the key column takes the row's key away: logged as deleted. If the row is not deleted or
    changed after all, the statement is undone with the rows its triggers logged.
    """
    q = d.prep.quote
    triggers = {}
    for t in parent_triggers(d.changelog, fks, key, fks_of):
        if t.event == "UPDATE" and key in t.fk.columns:
            body = _log_key_change(d, t.fk, t.rule, key, kind)
        else:
            body = _log_children(d, t, key, kind, fks_of)
        if t.event == "UPDATE":
            changed = " OR ".join(
                f"NOT (CAST(OLD.{q(ref)} AS BINARY) <=> CAST(NEW.{q(ref)} AS BINARY))"
                for ref in t.fk.referenced
            )
            body = f"IF {changed} THEN {body}; END IF"
        triggers[t.name] = (
            f"CREATE TRIGGER {d.q(t.name)} BEFORE {t.event} ON {d.q(t.table)} "
            f"FOR EACH ROW BEGIN {body}; END"
        )
    return triggers


_CHILD = "tandem_child"


def _log_children(
    d: _Dialect, t: ParentTrigger, key: str, kind: KeyKind, fks_of: ForeignKeysOf
) -> str:
    """The ``INSERT ... SELECT`` of trigger ``t`` that logs the child rows."""
    fk = t.fk
    deletes = (t.event, t.rule) == ("DELETE", "CASCADE")
    # A SET NULL of the key column takes the row's key away: its own trigger logs that as
    # the old key deleted, and nothing under the new (a row without a key is not logged).
    op = "D" if deletes or key in fk.columns else "U"
    levels = [fk.parent, *(f.parent for f in t.via)]  # the parent first, the trigger's last
    selfs = {table: [f for f in fks_of(table) if f.self_cascade] for table in levels}
    below = [fk, *t.via]  # below[j]: the foreign key into levels[j] from the level under it
    # A child row deleted takes the tree below it too; one set to NULL stays. (A child that
    # is its own parent has that tree from the parent's level already.)
    tree = deletes and (t.via or fk.child != fk.parent)
    child_selfs = [f for f in fks_of(fk.child) if f.self_cascade] if tree else []
    ctes = []
    if t.event == "UPDATE" or not (t.via or selfs[fk.parent] or child_selfs):
        reached = _match(d, _CHILD, fk, "OLD")  # the rows referencing the parent's row
    else:
        # The rows each level's delete takes, from the trigger's table down (with the tree
        # below each where the level references itself), then the child rows they take.
        for j in reversed(range(len(levels))):
            seed = None if j == len(levels) - 1 else _within(d, f"tandem_l{j + 1}", below[j + 1])
            doomed = _doomed(
                d, f"tandem_l{j}", levels[j], below[j].referenced, selfs[levels[j]], seed
            )
            ctes.append(doomed)
        reached = _within(d, "tandem_l0", fk, _CHILD)
        if child_selfs:
            ctes.append(
                _doomed(d, "tandem_c", fk.child, (key,), child_selfs, _within(d, "tandem_l0", fk))
            )
            q = d.prep.quote
            reached = f"EXISTS (SELECT 1 FROM tandem_c WHERE tandem_c.{q(key)} = {_CHILD}.{q(key)})"
    with_ = f"WITH RECURSIVE {', '.join(ctes)} " if ctes else ""
    return (
        f"INSERT INTO {d.q(d.changelog)} (table_name, row_key, op, changed_at) {with_}"
        f"SELECT {d.lit(fk.child)}, {d.key_text(_CHILD, key, kind)}, '{op}', {d.NOW} "
        f"FROM {d.q(fk.child)} {_CHILD} WHERE {reached} AND {d.loggable(_CHILD, key, kind)}"
    )


def _log_key_change(d: _Dialect, fk: ForeignKey, rule: str, key: str, kind: KeyKind) -> str:
    """The ``INSERT ... SELECT`` statements of a parent's ``BEFORE UPDATE`` trigger whose
    foreign key ``fk``'s action ``rule`` changes the child's ``key`` column: for each child
    row referencing the old values, as the child's own ``UPDATE`` trigger logs it
    (``_Mysql.create_triggers``), the old key as deleted (``D``) when the key's text changes
    (compared as bytes), then the new key as updated (``U``) when it can be logged.

    The new key is the parent's new value of the column the key references (``CASCADE``
    copies it), or NULL (``SET NULL``: nothing is logged under it). It is rendered with the
    child's key kind, but an integer as a ``zerofill`` one: the parent's column may be
    ``ZEROFILL`` where the child's is not, and its text would be padded; ``+ 0`` drops the
    padding and leaves any other integer's text as it is.
    """
    insert = f"INSERT INTO {d.q(d.changelog)} (table_name, row_key, op, changed_at) "
    rows = f"FROM {d.q(fk.child)} {_CHILD} WHERE {_match(d, _CHILD, fk, 'OLD')}"
    old = d.key_text(_CHILD, key, kind)
    gone = f"{rows} AND {d.loggable(_CHILD, key, kind)}"
    if rule != "CASCADE":  # SET NULL: every logged key goes
        return f"{insert}SELECT {d.lit(fk.child)}, {old}, 'D', {d.NOW} {gone}"
    ref = fk.referenced[fk.columns.index(key)]
    as_new: KeyKind = "zerofill" if kind == "integer" else kind
    new = d.key_text("NEW", ref, as_new)
    changed = f"NOT (CAST({old} AS BINARY) <=> CAST({new} AS BINARY))"
    return (
        f"{insert}SELECT {d.lit(fk.child)}, {old}, 'D', {d.NOW} {gone} AND {changed}; "
        f"{insert}SELECT {d.lit(fk.child)}, {new}, 'U', {d.NOW} "
        f"{rows} AND {d.loggable('NEW', ref, as_new)}"
    )


def _within(d: _Dialect, cte: str, fk: ForeignKey, row: str = "tandem_t") -> str:
    """SQL: ``row`` references by ``fk`` one of the rows of the common table expression
    ``cte`` (:func:`_doomed`)."""
    return f"EXISTS (SELECT 1 FROM {cte} WHERE {_match(d, row, fk, cte)})"


def _match(d: _Dialect, child: str, fk: ForeignKey, parent: str) -> str:
    """SQL: row ``child`` references row ``parent`` by ``fk`` (each column equal)."""
    q = d.prep.quote
    return " AND ".join(
        f"{child}.{q(col)} = {parent}.{q(ref)}"
        for col, ref in zip(fk.columns, fk.referenced, strict=True)
    )


def _doomed(
    d: _Dialect,
    name: str,
    table: str,
    needed: Sequence[str],
    selfs: Sequence[ForeignKey],
    seed: str | None,
) -> str:
    """A common table expression ``name`` of the rows of ``table`` a delete takes: those
    whose (``tandem_t``) ``seed`` condition holds (``None``: the trigger's ``OLD`` row), and
    the tree below each by the table's self-referencing ``ON DELETE CASCADE`` keys
    ``selfs``; with the columns ``needed`` and those the keys reference. ``UNION`` (not
    ``ALL``): a cycle of rows ends when no new row comes."""
    q = d.prep.quote
    cols = list(dict.fromkeys([*needed, *(ref for f in selfs for ref in f.referenced)]))
    ref = "OLD" if seed is None else "tandem_t"
    picked = ", ".join(f"{ref}.{q(c)}" for c in cols)
    first = (
        f"SELECT {picked}"
        if seed is None
        else f"SELECT {picked} FROM {d.q(table)} tandem_t WHERE {seed}"
    )
    body = first
    if selfs:
        under = " OR ".join(f"({_match(d, 'tandem_t', f, name)})" for f in selfs)
        body += (
            f" UNION SELECT {', '.join(f'tandem_t.{q(c)}' for c in cols)} "
            f"FROM {d.q(table)} tandem_t JOIN {name} ON {under}"
        )
    return f"{name} ({', '.join(q(c) for c in cols)}) AS ({body})"


def _cascade_name(changelog: str, child: str, constraint: str, event: str) -> str:
    """The name of the trigger logging the rows of ``child`` that its foreign key
    ``constraint``'s action on ``event`` deletes or changes: the change log's trigger name
    for ``child`` (:func:`_trigger_name`), with ``x``, ``d`` or ``u`` and six hex digits of
    the constraint's name for the operation (never a row trigger's one letter). For a trigger
    above the parent (:func:`chains`) ``constraint`` is the chain's names joined by ``/``."""
    tag = hashlib.sha1(constraint.encode()).hexdigest()[:6]
    return _trigger_name(changelog, child, f"x{event[0].lower()}{tag}")


def _cascade_names(changelog: str, child: str, names: Iterable[str]) -> set[str]:
    """Those of ``names`` that :func:`_cascade_name` gives for ``child``."""
    prefix = _cascade_name(changelog, child, "", "d")[:-8]
    pattern = re.compile(re.escape(prefix) + "x[du][0-9a-f]{6}")
    return {name for name in names if pattern.fullmatch(name)}


_ACTIONS = frozenset({"CASCADE", "SET NULL", "SET DEFAULT"})
"""Foreign-key rules that change the referencing rows."""

_LOGGED = frozenset({"CASCADE", "SET NULL"})
"""The rules whose changes :func:`cascade_triggers` logs."""
