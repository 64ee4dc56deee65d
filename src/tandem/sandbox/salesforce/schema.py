"""The sandbox org's schema: sObjects, their fields and field rules, loaded from YAML.

The shipped ``default_schema.yaml`` holds the standard sales and quote-to-cash objects. User
files add custom objects (``Invoice__c``) or custom fields on standard objects; they are merged
on top, in order. The file format::

    objects:
      Invoice__c:                      # custom objects end in __c
        label: Invoice
        keyPrefix: a0I                 # optional; generated (a..) when missing
        owned: true                    # has OwnerId (default true)
        fields:
          Account__c: {type: reference, referenceTo: [Account], relationshipName: Account__r}
          Status__c:
            type: picklist
            restricted: true
            values: [Draft, Posted, {value: Paid, label: Paid in full}]

Field keys: ``type``, ``label``, ``length``, ``precision``, ``scale``, ``required``,
``nillable``, ``createable``, ``updateable``, ``unique``, ``externalId``, ``caseSensitive``,
``values``, ``restricted``, ``referenceTo``, ``relationshipName``, ``childRelationshipName`` (the
parent's name for its children, e.g. ``Contacts``; derived when missing), ``cascadeDelete``
(deleting the parent deletes this record, as for master-detail), ``default``, ``autoNumber``
(a format such as ``"INV-{000000}"``), ``calculated`` and ``nameField``.

Every object also gets the system fields (Id, IsDeleted, CreatedDate, CreatedById,
LastModifiedDate, LastModifiedById, SystemModstamp and, when owned, OwnerId); Account,
Contact and Lead also ``MasterRecordId`` (see :data:`MERGEABLE`).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tandem.errors import ConfigError
from tandem.sandbox.salesforce.ids import BASE62

__all__ = ["FIELD_TYPES", "MERGEABLE", "FieldDef", "ObjectDef", "PicklistValue", "Schema"]

DEFAULT_SCHEMA = Path(__file__).with_name("default_schema.yaml")

FIELD_TYPES = frozenset(
    {
        "id",
        "string",
        "textarea",
        "picklist",
        "multipicklist",
        "reference",
        "boolean",
        "currency",
        "double",
        "percent",
        "int",
        "date",
        "datetime",
        "email",
        "phone",
        "url",
    }
)
TEXT_TYPES = frozenset({"string", "textarea", "picklist", "multipicklist", "email", "phone", "url"})
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
_FIELD_KEYS = frozenset(
    {
        "type",
        "label",
        "length",
        "precision",
        "scale",
        "required",
        "nillable",
        "createable",
        "updateable",
        "unique",
        "externalId",
        "caseSensitive",
        "values",
        "restricted",
        "referenceTo",
        "relationshipName",
        "default",
        "autoNumber",
        "calculated",
        "nameField",
        "cascadeDelete",
        "childRelationshipName",
    }
)
_OBJECT_KEYS = frozenset(
    {
        "label",
        "labelPlural",
        "keyPrefix",
        "owned",
        "fields",
        "createable",
        "updateable",
        "deletable",
    }
)
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DEFAULT_LENGTH = {
    "string": 255,
    "textarea": 32768,
    "picklist": 255,
    "multipicklist": 4099,
    "email": 80,
    "phone": 40,
    "url": 255,
}
_SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


@dataclass(frozen=True)
class PicklistValue:
    """One picklist entry; ``meta`` carries extras such as an opportunity stage's probability."""

    value: str
    label: str
    active: bool = True
    default: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class FieldDef:
    """One field of an sObject, with the rules the sandbox enforces on it."""

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    required: bool = False
    createable: bool = True
    updateable: bool = True
    unique: bool = False
    external_id: bool = False
    case_sensitive: bool = False
    picklist: list[PicklistValue] = field(default_factory=list)
    restricted: bool = False
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    cascade_delete: bool = False
    child_relationship_name: str | None = None
    default: Any = None
    auto_number: str | None = None
    calculated: bool = False
    name_field: bool = False
    system: bool = False

    @property
    def custom(self) -> bool:
        """Whether this is a custom field (name ends in ``__c``)."""
        return self.name.endswith("__c")

    @property
    def is_text(self) -> bool:
        """Whether values are strings compared case-insensitively (text, picklist, email ...)."""
        return self.type in TEXT_TYPES

    def picklist_value(self, value: str) -> PicklistValue | None:
        """Return the active picklist entry equal to ``value`` (exact match), or None."""
        for entry in self.picklist:
            if entry.value == value and entry.active:
                return entry
        return None


@dataclass
class ObjectDef:
    """One sObject: its name, key prefix and fields (in declaration order)."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    owned: bool = True
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    fields: dict[str, FieldDef] = field(default_factory=dict)
    _by_lower: dict[str, FieldDef] = field(default_factory=dict, repr=False)
    _relations: dict[str, FieldDef] = field(default_factory=dict, repr=False)

    @property
    def custom(self) -> bool:
        """Whether this is a custom object (name ends in ``__c``)."""
        return self.name.endswith("__c")

    def field(self, name: str) -> FieldDef | None:
        """Return the field named ``name`` (case-insensitive), or None."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """Return the reference field whose relationship name is ``name`` (case-insensitive)."""
        return self._relations.get(name.lower())

    def reindex(self) -> None:
        """Rebuild the case-insensitive lookups after the field set changed."""
        self._by_lower = {f.name.lower(): f for f in self.fields.values()}
        self._relations = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name
        }


class Schema:
    """All sObjects of the sandbox org.

    Args:
        objects: the objects, by name.
    """

    def __init__(self, objects: dict[str, ObjectDef]) -> None:
        self.objects = objects
        self._by_lower = {name.lower(): obj for name, obj in objects.items()}
        self._by_prefix = {obj.key_prefix: obj for obj in objects.values()}

    @classmethod
    def load(cls, paths: Sequence[Path] = ()) -> Schema:
        """Load the shipped default schema merged with user YAML files.

        Args:
            paths: extra YAML files (custom objects, custom fields), applied in order.

        Returns:
            The merged schema.

        Raises:
            ConfigError: a file is unreadable or holds an unknown key or a bad value.
        """
        raw: dict[str, dict[str, Any]] = {}
        standard: set[str] = set()
        for index, path in enumerate([DEFAULT_SCHEMA, *paths]):
            doc = _read_yaml(path)
            for name, spec in doc.items():
                where = f"objects.{name}"
                if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
                    raise ConfigError("not a valid object name", file=str(path), field=where)
                if not isinstance(spec, dict):
                    raise ConfigError("an object must be a mapping", file=str(path), field=where)
                unknown = set(spec) - _OBJECT_KEYS
                if unknown:
                    raise ConfigError(
                        f"unknown key(s) {sorted(unknown)}", file=str(path), field=where
                    )
                if index == 0:
                    standard.add(name)
                elif name not in raw and not name.endswith("__c"):
                    raise ConfigError(
                        "a custom object name must end in __c", file=str(path), field=where
                    )
                merged = raw.setdefault(name, {"fields": {}})
                for key, value in spec.items():
                    if key != "fields":
                        merged[key] = value
                for fname, fspec in (spec.get("fields") or {}).items():
                    if (
                        index > 0
                        and name in standard
                        and not fname.endswith("__c")
                        and fname not in merged["fields"]
                    ):
                        raise ConfigError(
                            "a custom field name must end in __c",
                            file=str(path),
                            field=f"{where}.fields.{fname}",
                        )
                    merged["fields"][fname] = _checked_field(fspec, str(path), f"{where}.{fname}")
        return cls(_build_objects(raw))

    def get(self, name: str) -> ObjectDef | None:
        """Return the object named ``name`` (case-insensitive), or None."""
        return self._by_lower.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        """Return the object whose key prefix is ``prefix``, or None."""
        return self._by_prefix.get(prefix)

    def child_relationships(self, name: str) -> list[tuple[ObjectDef, FieldDef]]:
        """Return ``(child object, reference field)`` for every lookup pointing at ``name``."""
        return [
            (obj, f)
            for obj in self.objects.values()
            for f in obj.fields.values()
            if name in f.reference_to and not f.system and f.name != "OwnerId"
        ]

    def child_relationship(self, parent: str, name: str) -> tuple[ObjectDef, FieldDef] | None:
        """Return the child object and lookup behind ``parent``'s relationship ``name``.

        Args:
            parent: the parent object name, e.g. ``Account``.
            name: the child relationship name (case-insensitive), e.g. ``Contacts``.
        """
        for child, ref in self.child_relationships(parent):
            if str(ref.child_relationship_name).lower() == name.lower():
                return child, ref
        return None


_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (the shipped schema parses in 7 ms
instead of 47: every sandbox start reads it), else the pure-Python one; both load the same."""


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read schema file: {exc}", file=str(path)) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("objects", {}), dict):
        raise ConfigError("a schema file must hold an 'objects' mapping", file=str(path))
    objects: dict[str, Any] = doc.get("objects") or {}
    return objects


def _checked_field(spec: Any, path: str, where: str) -> dict[str, Any]:
    if not _NAME_RE.fullmatch(where.rsplit(".", 1)[-1]):
        raise ConfigError("not a valid field name", file=path, field=where)
    if not isinstance(spec, dict):
        raise ConfigError("a field must be a mapping", file=path, field=where)
    unknown = set(spec) - _FIELD_KEYS
    if unknown:
        raise ConfigError(f"unknown key(s) {sorted(unknown)}", file=path, field=where)
    ftype = spec.get("type")
    if ftype not in FIELD_TYPES or ftype == "id":
        raise ConfigError(f"unknown field type {ftype!r}", file=path, field=where)
    if ftype == "reference" and not spec.get("referenceTo"):
        raise ConfigError("a reference field needs referenceTo", file=path, field=where)
    return dict(spec)


def _picklist(values: Iterable[Any], field_default: Any) -> list[PicklistValue]:
    entries = []
    for item in values:
        spec = item if isinstance(item, dict) else {"value": item}
        value = str(spec["value"])
        extra = {k: v for k, v in spec.items() if k not in ("value", "label", "default")}
        entries.append(
            PicklistValue(
                value=value,
                label=str(spec.get("label", value)),
                default=bool(spec.get("default", False)) or value == field_default,
                meta=extra,
            )
        )
    return entries


def _make_field(name: str, spec: dict[str, Any]) -> FieldDef:
    ftype = spec["type"]
    calculated = bool(spec.get("calculated", False)) or "autoNumber" in spec
    writable = not calculated
    default = spec.get("default")
    if ftype == "boolean" and default is None:
        default = False
    nillable = bool(spec.get("nillable", ftype != "boolean" and not spec.get("required")))
    required = bool(spec.get("required", False))
    is_number = ftype in NUMBER_TYPES
    precision = int(spec.get("precision", 18 if is_number else 0))
    scale = int(spec.get("scale", (0 if ftype == "int" else 2) if is_number else 0))
    return FieldDef(
        name=name,
        type=ftype,
        label=str(spec.get("label", _label_of(name))),
        length=int(spec.get("length", _DEFAULT_LENGTH.get(ftype, 0))),
        precision=precision,
        scale=scale,
        nillable=nillable,
        required=required and default is None,
        createable=bool(spec.get("createable", writable)),
        updateable=bool(spec.get("updateable", writable)),
        unique=bool(spec.get("unique", False)),
        external_id=bool(spec.get("externalId", False)),
        case_sensitive=bool(spec.get("caseSensitive", False)),
        picklist=_picklist(spec.get("values") or [], default),
        restricted=bool(spec.get("restricted", False)),
        reference_to=list(spec.get("referenceTo") or []),
        relationship_name=spec.get("relationshipName"),
        cascade_delete=bool(spec.get("cascadeDelete", False)),
        child_relationship_name=spec.get("childRelationshipName"),
        default=default,
        auto_number=spec.get("autoNumber"),
        calculated=calculated,
        name_field=bool(spec.get("nameField", False)),
    )


def _label_of(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id").replace("_", " ")
    return base or name


def _system_fields(owned: bool) -> list[FieldDef]:
    def sysf(name: str, ftype: str, label: str, **kw: Any) -> FieldDef:
        return FieldDef(
            name=name,
            type=ftype,
            label=label,
            createable=False,
            updateable=False,
            system=True,
            **kw,
        )

    user = {"reference_to": ["User"], "length": 18}
    fields = [
        sysf("Id", "id", "Record ID", length=18, nillable=False),
        sysf("IsDeleted", "boolean", "Deleted", nillable=False, default=False),
        sysf("CreatedDate", "datetime", "Created Date", nillable=False),
        sysf(
            "CreatedById",
            "reference",
            "Created By ID",
            nillable=False,
            relationship_name="CreatedBy",
            **user,
        ),
        sysf("LastModifiedDate", "datetime", "Last Modified Date", nillable=False),
        sysf(
            "LastModifiedById",
            "reference",
            "Last Modified By ID",
            nillable=False,
            relationship_name="LastModifiedBy",
            **user,
        ),
        sysf("SystemModstamp", "datetime", "System Modstamp", nillable=False),
    ]
    if owned:
        owner = FieldDef(
            name="OwnerId",
            type="reference",
            label="Owner ID",
            nillable=False,
            relationship_name="Owner",
            reference_to=["User"],
            length=18,
        )
        fields.insert(1, owner)
    return fields


MERGEABLE = frozenset({"Account", "Contact", "Lead"})
"""The objects Salesforce merges (SOAP ``merge()``, the merge screens): they alone have
``MasterRecordId``, which a merge sets on the records it deletes."""


def _master_record_field(obj_name: str) -> FieldDef:
    """``MasterRecordId``: the record a deleted one was merged into; null otherwise."""
    return FieldDef(
        name="MasterRecordId",
        type="reference",
        label="Master Record ID",
        createable=False,
        updateable=False,
        system=True,
        reference_to=[obj_name],
        relationship_name="MasterRecord",
        length=18,
    )


def _plural_relationship(child: str) -> str:
    if child.endswith("__c"):
        return child[:-3] + "s__r"
    if child.endswith("y"):
        return child[:-1] + "ies"
    return child + ("es" if child.endswith("s") else "s")


def _custom_prefix(name: str, taken: set[str]) -> str:
    # Stable across restarts and independent of the other custom objects' order.
    seed = zlib.crc32(name.encode())
    while True:
        prefix = "a" + BASE62[(seed // 62) % 62] + BASE62[seed % 62]
        if prefix not in taken:
            return prefix
        seed += 1


def _build_objects(raw: dict[str, dict[str, Any]]) -> dict[str, ObjectDef]:
    objects: dict[str, ObjectDef] = {}
    taken = {str(spec["keyPrefix"]) for spec in raw.values() if spec.get("keyPrefix")}
    for name, spec in raw.items():
        prefix = str(spec.get("keyPrefix") or "")
        if not prefix:
            prefix = _custom_prefix(name, taken)
            taken.add(prefix)
        owned = bool(spec.get("owned", True))
        label = str(spec.get("label", name.removesuffix("__c").replace("_", " ")))
        obj = ObjectDef(
            name=name,
            label=label,
            label_plural=str(spec.get("labelPlural", label + "s")),
            key_prefix=prefix,
            owned=owned,
            createable=bool(spec.get("createable", True)),
            updateable=bool(spec.get("updateable", True)),
            deletable=bool(spec.get("deletable", True)),
        )
        fields = _system_fields(owned)
        if name in MERGEABLE:
            fields.append(_master_record_field(name))
        declared = dict(spec["fields"])
        if name.endswith("__c") and "Name" not in declared:
            declared["Name"] = {
                "type": "string",
                "length": 80,
                "required": True,
                "label": f"{label} Name",
                "nameField": True,
            }
        system_names = {f.name for f in fields}
        for fname, fspec in declared.items():
            if fname in system_names:
                continue
            fields.append(_make_field(fname, fspec))
        obj.fields = {f.name: f for f in fields}
        obj.reindex()
        objects[name] = obj
    for obj in objects.values():
        for f in obj.fields.values():
            if f.type == "reference" and f.child_relationship_name is None and not f.system:
                f.child_relationship_name = _plural_relationship(obj.name)
            missing = [target for target in f.reference_to if target not in objects]
            if missing:
                raise ConfigError(
                    f"referenceTo names unknown object(s) {missing}",
                    field=f"objects.{obj.name}.{f.name}",
                )
    return objects
