"""Records between Salesforce rows and Tandem's :class:`Change` / :class:`WriteOp` / outcomes.

Pure functions, no I/O: a query row (REST JSON or Bulk CSV) becomes a :class:`Change`; a
:class:`WriteOp` becomes a Salesforce record after its values are checked against the described
schema (restricted picklist, length, type), so a bad value is rejected, named, before any call;
a :class:`SaveResult` becomes a :class:`WriteOutcome` whose error names record, field and value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, repeat
from typing import Any

from tandem.connectors.base import Change, EntityBinding, EntitySchema, FieldInfo, WriteOp
from tandem.connectors.base import WriteOutcome as Outcome
from tandem.connectors.salesforce.client import SaveResult
from tandem.connectors.salesforce.values import (
    csv_cell,
    from_csv,
    from_json,
    parse_datetime,
    to_wire,
    wire_datetime,
)
from tandem.errors import RecordRejected

__all__ = [
    "MODSTAMP",
    "RecordBuilder",
    "build_record",
    "csv_table",
    "data_fields",
    "field_writer",
    "flatten",
    "outcome",
    "rejection",
    "row_to_change",
    "select_fields",
]

MODSTAMP = "SystemModstamp"
_GONE = ("ENTITY_IS_DELETED", "NOT_FOUND", "INVALID_CROSS_REFERENCE_KEY")
_STRINGS = ("string", "text", "email", "phone", "url", "picklist", "multipicklist", "id")
_NUMBERS = ("integer", "number", "currency", "percent")


def data_fields(binding: EntityBinding) -> list[str]:
    """The fields a :class:`Change` carries: the binding's fields and its external ID."""
    names = [f for f in binding.fields if f not in (binding.key, MODSTAMP, "IsDeleted")]
    if binding.external_id and binding.external_id not in names:
        names.append(binding.external_id)
    return names


def select_fields(binding: EntityBinding, *, with_deleted: bool) -> list[str]:
    """The SELECT list: key, modstamp, (IsDeleted), then :func:`data_fields`."""
    head = [binding.key, MODSTAMP] + (["IsDeleted"] if with_deleted else [])
    return head + [f for f in data_fields(binding) if f not in head]


def _lookup(row: Mapping[str, Any], name: str) -> Any:
    if name in row or "." not in name:
        return row.get(name)
    value: Any = row
    for part in name.split("."):  # a relationship field arrives nested in REST JSON
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def row_to_change(
    row: Mapping[str, Any], binding: EntityBinding, schema: EntitySchema, *, csv: bool = False
) -> Change:
    """One query row as a :class:`Change` (fields empty when the row is deleted)."""
    convert = from_csv if csv else from_json
    deleted_raw = row.get("IsDeleted")
    deleted = str(deleted_raw).lower() == "true" if csv else bool(deleted_raw)
    stamp = row.get(MODSTAMP)
    modified = parse_datetime(str(stamp)) if stamp else parse_datetime("1970-01-01T00:00:00Z")
    fields: dict[str, Any] = {}
    if not deleted:
        for name in data_fields(binding):
            fields[name] = convert(_lookup(row, name), schema.fields.get(name))
    return Change(str(row[binding.key]), fields, modified, deleted)


def rejection(
    op: WriteOp,
    operation: str,
    code: str | None,
    message: str,
    field: str | None,
    binding: EntityBinding,
) -> RecordRejected:
    """A :class:`RecordRejected` naming record (op ref), field and value."""
    if field is not None and field in op.values:
        value: Any = op.values[field]
    elif field is not None and field == binding.external_id:
        value = op.match
    else:
        value = None
    where = f", field {field} = {value!r}" if field else ""
    return RecordRejected(
        f"record {op.ref}{where}: {code or 'ERROR'}: {message}",
        system="salesforce",
        operation=operation,
        record=op.ref,
        code=code,
        field=field,
        value=value,
    )


def check_value(info: FieldInfo, value: Any) -> str | None:
    """Why ``value`` cannot go into the field ``info``, or ``None`` when it can."""
    if value is None:
        return None if info.nillable or info.type == "boolean" else "the field cannot be empty"
    kind = info.type
    if kind == "boolean" and not isinstance(value, bool):
        return "expected a boolean"
    if kind in _NUMBERS and (
        isinstance(value, bool) or not isinstance(value, int | float | Decimal)
    ):
        return "expected a number"
    if kind == "date" and (isinstance(value, datetime) or not isinstance(value, date)):
        return "expected a date"
    if kind == "datetime" and not isinstance(value, datetime):
        return "expected a datetime"
    if kind in _STRINGS and isinstance(value, str):
        if info.length and len(value) > info.length:
            return f"longer than {info.length} characters"
        if info.picklist is not None and info.restricted_picklist:
            chosen = value.split(";") if kind == "multipicklist" else [value]
            bad = [v for v in chosen if v not in info.picklist]
            if bad:
                return f"not a value of the restricted picklist ({', '.join(info.picklist)})"
    return None


Convert = Callable[[Any], Any]
"""A value to its wire form for one field; raises ``ValueError`` saying why it cannot go in."""


def field_writer(info: FieldInfo | None) -> Convert:
    """:func:`check_value` then :func:`to_wire` for one field, made once per field.

    The value of the type the field usually gets (``str`` for text, ``int`` for a number, ...)
    takes a short path of a type test and the field's own limits; any other value takes the
    general one, so the outcome and the message are the same either way.
    """
    if info is None:
        return to_wire

    def general(value: Any) -> Any:
        problem = check_value(info, value)
        if problem is not None:
            raise ValueError(problem)
        return to_wire(value)

    kind = info.type
    if kind in _STRINGS:
        return _string_writer(info, general)
    if kind == "boolean":

        def flag(value: Any) -> Any:
            return value if type(value) is bool else general(value)

        return flag
    if kind in _NUMBERS:

        def number(value: Any) -> Any:
            given = type(value)
            if given is int or (given is Decimal and value.is_finite()):
                return value
            if given is float and math.isfinite(value):
                return value
            return general(value)

        return number
    if kind == "date":

        def day(value: Any) -> Any:
            return value.isoformat() if type(value) is date else general(value)

        return day
    if kind == "datetime":

        def moment(value: Any) -> Any:
            return wire_datetime(value) if type(value) is datetime else general(value)

        return moment

    def other(value: Any) -> Any:
        return value if type(value) is str else general(value)

    return other


def _string_writer(info: FieldInfo, general: Convert) -> Convert:
    length = info.length or 0
    allowed = (
        frozenset(info.picklist) if info.picklist is not None and info.restricted_picklist else None
    )
    multi = info.type == "multipicklist"

    def text(value: Any) -> Any:
        if type(value) is not str or (length and len(value) > length):
            return general(value)
        if allowed is not None and (
            not allowed.issuperset(value.split(";")) if multi else value not in allowed
        ):
            return general(value)
        return value

    return text


_Entry = tuple[Convert | None, str | None, str]
"""How a builder sets one field: its conversion (None: the field is skipped) and, for a
``Rel.Field`` lookup, the relationship and the parent's field (else None and "")."""
_SKIPPED: _Entry = (None, None, "")


class RecordBuilder:
    """Builds the Salesforce records of one binding against one described schema.

    Each field's check and conversion (:func:`field_writer`) is made once, the first time an
    op sets that field, and reused for every later op: the per-value work is a dict lookup and
    a call, not a walk through the field's type.

    Attributes:
        binding: the entity binding the records are for.
        schema: the described object the values are checked against.
        relations: the relationship names of ``Rel.Field`` lookups built so far (their values
            are nested dicts in a record; :func:`flatten` makes them ``Rel.Field`` columns).
    """

    def __init__(self, binding: EntityBinding, schema: EntitySchema) -> None:
        self.binding = binding
        self.schema = schema
        self.relations: set[str] = set()
        self._writers: dict[str, Convert] = {}
        skip = {"Id", binding.key}
        self._skip = frozenset(skip)
        self._skip_upsert = frozenset(
            skip | ({binding.external_id} if binding.external_id else set())
        )
        self._entries: dict[str, _Entry] = {}
        self._entries_upsert: dict[str, _Entry] = {}

    def build(self, op: WriteOp, operation: str) -> dict[str, Any]:
        """The Salesforce record for one op (values in wire form).

        Raises:
            RecordRejected: the op lacks its key or match, or a value does not fit its field.
        """
        binding = self.binding
        record: dict[str, Any] = {}
        action = op.action
        if action == "upsert":
            ext = binding.external_id
            if not op.match or ext is None:
                raise rejection(
                    op, operation, "MISSING_MATCH", "upsert without a match value", ext, binding
                )
            record[ext] = op.match
            skip = self._skip_upsert
            entries = self._entries_upsert
        elif not op.key:
            raise rejection(
                op, operation, "MISSING_KEY", f"{action} without a record Id", None, binding
            )
        else:
            record["Id"] = op.key
            skip = self._skip
            entries = self._entries
        if action == "delete":
            return record
        name = ""
        try:
            for name, value in op.values.items():
                entry = entries.get(name)
                if entry is None:
                    entry = self._entry(name, skip, entries)
                convert, relation, target = entry
                if relation is None:
                    if convert is not None:
                        record[name] = convert(value)
                elif convert is not None:
                    # ``Account.ERP_Id__c``: set the lookup by the parent's external ID.
                    record.setdefault(relation, {})[target] = convert(value)
        except ValueError as exc:
            raise rejection(op, operation, "INVALID_VALUE", str(exc), name, binding) from None
        return record

    def _entry(self, name: str, skip: frozenset[str], entries: dict[str, _Entry]) -> _Entry:
        """What :meth:`build` does with a field ``name``, made on its first use."""
        entry: _Entry
        if name in skip:
            entry = _SKIPPED
        elif "." in name:
            relation, _, target = name.partition(".")
            entry = (self._writers.get(name) or self._writer(name), relation, target)
        else:
            entry = (self._writers.get(name) or self._writer(name), None, "")
        entries[name] = entry
        return entry

    def _writer(self, name: str) -> Convert:
        convert = field_writer(self.schema.fields.get(name))
        self._writers[name] = convert
        if "." in name:
            self.relations.add(name.partition(".")[0])
        return convert


def build_record(
    op: WriteOp, binding: EntityBinding, schema: EntitySchema, operation: str
) -> dict[str, Any]:
    """The Salesforce record for one op (values in wire form); see :class:`RecordBuilder`.

    Raises:
        RecordRejected: the op lacks its key or match, or a value does not fit its field.
    """
    return RecordBuilder(binding, schema).build(op, operation)


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with relationship lookups as ``Rel.Field`` columns (the Bulk CSV form)."""
    flat: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, Mapping):
            flat.update({f"{name}.{inner}": v for inner, v in value.items()})
        else:
            flat[name] = value
    return flat


_ABSENT: Any = object()


def _cell(value: Any) -> str:
    return "" if value is _ABSENT else csv_cell(value)


def csv_table(records: Sequence[Mapping[str, Any]], key: str) -> tuple[list[str], list[list[str]]]:
    """Flat records (see :func:`flatten`) as a Bulk CSV: the header, ``key`` first, and rows.

    Columns come in order of first appearance. A column a record lacks is an empty cell (the
    field is left as it is); ``None`` and an empty text are ``#N/A`` (the field is emptied, as
    Collections empties it).
    """
    columns = list(dict.fromkeys(chain((key,), chain.from_iterable(records))))
    absent = repeat(_ABSENT)
    rows = [
        [v if type(v) is str and v else _cell(v) for v in map(record.get, columns, absent)]
        for record in records
    ]
    return columns, rows


def outcome(op: WriteOp, result: SaveResult, binding: EntityBinding, operation: str) -> Outcome:
    """A :class:`WriteOutcome` for one op from its :class:`SaveResult`."""
    if result.success:
        return Outcome(op.ref, True, result.id or op.key, result.created)
    first = result.errors[0] if result.errors else None
    if op.action == "delete" and first is not None and first.code in _GONE:
        return Outcome(op.ref, True, key=op.key)  # already gone: the delete is done
    field = first.fields[0] if first is not None and first.fields else None
    error = rejection(
        op,
        operation,
        first.code if first else None,
        "; ".join(e.message for e in result.errors) or "refused without a reason",
        field,
        binding,
    )
    return Outcome(op.ref, False, error=error)


def group_by_action(ops: Sequence[WriteOp], skip: Container[int] = ()) -> dict[str, list[int]]:
    """Op indexes per action, actions in order of first appearance (``skip``: indexes left
    out, written otherwise)."""
    groups: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        if i not in skip:
            groups.setdefault(op.action, []).append(i)
    return groups
