"""Records between Salesforce rows and Tandem's :class:`Change` / :class:`WriteOp` / outcomes.

Pure functions, no I/O: a query row (REST JSON or Bulk CSV) becomes a :class:`Change`; a
:class:`WriteOp` becomes a Salesforce record after its values are checked against the described
schema (restricted picklist, length, type), so a bad value is rejected, named, before any call;
a :class:`SaveResult` becomes a :class:`WriteOutcome` whose error names record, field and value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tandem.connectors.base import Change, EntityBinding, EntitySchema, FieldInfo, WriteOp
from tandem.connectors.base import WriteOutcome as Outcome
from tandem.connectors.salesforce.client import SaveResult
from tandem.connectors.salesforce.values import from_csv, from_json, parse_datetime, to_wire
from tandem.errors import RecordRejected

__all__ = [
    "MODSTAMP",
    "build_record",
    "data_fields",
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


def build_record(
    op: WriteOp, binding: EntityBinding, schema: EntitySchema, operation: str
) -> dict[str, Any]:
    """The Salesforce record for one op (values in wire form).

    Raises:
        RecordRejected: the op lacks its key or match, or a value does not fit its field.
    """
    record: dict[str, Any] = {}
    if op.action == "upsert":
        ext = binding.external_id
        if not op.match or ext is None:
            raise rejection(
                op, operation, "MISSING_MATCH", "upsert without a match value", ext, binding
            )
        record[ext] = op.match
    elif not op.key:
        raise rejection(
            op, operation, "MISSING_KEY", f"{op.action} without a record Id", None, binding
        )
    else:
        record["Id"] = op.key
    if op.action == "delete":
        return record
    for name, value in op.values.items():
        if name in ("Id", binding.key) or (op.action == "upsert" and name == binding.external_id):
            continue
        info = schema.fields.get(name)
        problem = check_value(info, value) if info is not None else None
        if problem is None:
            try:
                wire = to_wire(value)
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            raise rejection(op, operation, "INVALID_VALUE", problem, name, binding)
        if "." in name:
            # ``Account.ERP_Id__c``: set the lookup by the parent's external ID.
            relation, _, target = name.partition(".")
            record.setdefault(relation, {})[target] = wire
        else:
            record[name] = wire
    return record


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with relationship lookups as ``Rel.Field`` columns (the Bulk CSV form)."""
    flat: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, Mapping):
            flat.update({f"{name}.{inner}": v for inner, v in value.items()})
        else:
            flat[name] = value
    return flat


def outcome(op: WriteOp, result: SaveResult, binding: EntityBinding, operation: str) -> Outcome:
    """A :class:`WriteOutcome` for one op from its :class:`SaveResult`."""
    if result.success:
        return Outcome(op.ref, True, key=result.id or op.key, created=result.created)
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


def group_by_action(ops: Sequence[WriteOp]) -> dict[str, list[int]]:
    """Op indexes per action, actions in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        groups.setdefault(op.action, []).append(i)
    return groups
