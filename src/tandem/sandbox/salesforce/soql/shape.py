"""Turning SQL result rows into SOQL records (nested parents) or Bulk CSV cells."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tandem.sandbox.salesforce.schema import FieldDef, ObjectDef
from tandem.sandbox.salesforce.values import to_csv, to_wire

__all__ = ["ChildQuery", "Column", "CompiledQuery", "Node"]

ColumnKind = Literal["field", "count", "number"]


@dataclass
class Column:
    """One selected value: its field, its position in the SQL row and its output name."""

    field: FieldDef
    index: int
    name: str
    kind: ColumnKind = "field"

    def wire(self, stored: Any) -> Any:
        """The JSON value of the cell."""
        if self.kind == "count":
            return int(stored or 0)
        if self.kind == "number":
            return None if stored is None else float(stored)
        return to_wire(self.field, stored)

    def csv(self, stored: Any) -> str:
        """The CSV text of the cell."""
        if self.kind != "field":
            return "" if stored is None else str(self.wire(stored))
        return to_csv(self.field, stored)


@dataclass
class ChildQuery:
    """A child relationship sub-query, run per page for the parents on that page.

    ``sql`` holds ``{ids}`` where the placeholders of the parent ids go; the parent id of each
    row is at ``ref_index``.
    """

    key: str
    sql: str
    params: list[Any]
    shape: Node
    ref_index: int
    limit: int | None
    offset: int

    def statement(self, parent_count: int) -> str:
        """The SQL for ``parent_count`` parent ids."""
        return self.sql.replace("{ids}", ", ".join("?" * parent_count))


@dataclass
class Node:
    """A record level of the result: the queried object or a parent reached by a relationship.

    ``entries`` are the output keys in query order: a field column or a nested parent node.
    """

    obj: ObjectDef
    id_index: int
    entries: list[tuple[str, Column | Node | ChildQuery]] = field(default_factory=list)
    flat: list[Column] = field(default_factory=list)
    children: list[ChildQuery] = field(default_factory=list)
    width: int = 0  # number of SQL columns
    aggregate: bool = False
    count_only: bool = False

    def build(self, row: tuple[Any, ...], base: str) -> dict[str, Any]:
        """Return the record dict of one SQL row.

        Args:
            row: the SQL row.
            base: ``/services/data/vNN.N`` for the attribute URLs.
        """
        if self.aggregate:
            out: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            for key, entry in self.entries:
                assert isinstance(entry, Column)
                out[key] = entry.wire(row[entry.index])
            return out
        record_id = row[self.id_index]
        out = {
            "attributes": {
                "type": self.obj.name,
                "url": f"{base}/sobjects/{self.obj.name}/{record_id}",
            }
        }
        for key, entry in self.entries:
            if isinstance(entry, Column):
                out[key] = entry.wire(row[entry.index])
            elif isinstance(entry, Node):
                out[key] = None if row[entry.id_index] is None else entry.build(row, base)
            else:
                out[key] = None  # filled by the query runner for the whole page
        return out

    def build_children(
        self, child: ChildQuery, rows: list[tuple[Any, ...]], base: str
    ) -> dict[Any, dict[str, Any]]:
        """Group a child sub-query's rows by parent id into ``{totalSize, done, records}``."""
        grouped: dict[Any, list[tuple[Any, ...]]] = {}
        for row in rows:
            grouped.setdefault(row[child.ref_index], []).append(row)
        out: dict[Any, dict[str, Any]] = {}
        for parent_id, group in grouped.items():
            end = None if child.limit is None else child.offset + child.limit
            kept = group[child.offset : end]
            if kept:
                records = [child.shape.build(row, base) for row in kept]
                out[parent_id] = {"totalSize": len(kept), "done": True, "records": records}
        return out


@dataclass
class CompiledQuery:
    """SQL + parameters + the shape of the results."""

    sql: str
    params: list[Any]
    shape: Node
    sobject: str

    def header(self) -> list[str]:
        """Bulk CSV column names in query order (``Account.Name`` for parent fields)."""
        return [column.name for column in self.shape.flat]

    def csv_converter(self) -> Callable[[tuple[Any, ...]], list[str]]:
        """Return a function turning one SQL row into CSV-ready strings."""
        columns = [(c.index, c.csv) for c in self.shape.flat]

        def convert(row: tuple[Any, ...]) -> list[str]:
            return [to_text(row[index]) for index, to_text in columns]

        return convert
