"""Describe results (``GET /sobjects/`` and ``GET /sobjects/{name}/describe``) from the schema."""

from __future__ import annotations

from typing import Any

from tandem.sandbox.salesforce.schema import NUMBER_TYPES, FieldDef, ObjectDef, Schema

__all__ = ["describe_global", "describe_object"]

_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
MASTER_RECORD_TYPE = "012000000000000AAA"


def _urls(obj: ObjectDef, base: str) -> dict[str, str]:
    root = f"{base}/sobjects/{obj.name}"
    return {
        "compactLayouts": f"{root}/describe/compactLayouts",
        "rowTemplate": f"{root}/{{ID}}",
        "defaultValues": f"{root}/defaultValues?recordTypeId&fields",
        "describe": f"{root}/describe",
        "sobject": root,
    }


def _object_summary(obj: ObjectDef, base: str) -> dict[str, Any]:
    return {
        "activateable": False,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": obj.name in ("Account", "Contact"),
        "mruEnabled": True,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": obj.createable,
        "triggerable": obj.createable,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": _urls(obj, base),
    }


def describe_global(schema: Schema, api_version: str) -> dict[str, Any]:
    """Return the ``GET /sobjects/`` body."""
    base = f"/services/data/v{api_version}"
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_object_summary(obj, base) for obj in schema.objects.values()],
    }


def _field(f: FieldDef) -> dict[str, Any]:
    is_number = f.type in NUMBER_TYPES
    length = 18 if f.type in ("id", "reference") else (f.length if f.is_text else 0)
    return {
        "aggregatable": f.type not in ("textarea", "multipicklist"),
        "autoNumber": f.auto_number is not None,
        "byteLength": length * 3,
        "calculated": f.calculated and f.auto_number is None,
        "cascadeDelete": f.cascade_delete,
        "caseSensitive": f.case_sensitive,
        "controllerName": None,
        "createable": f.createable,
        "custom": f.custom,
        "defaultValue": f.default if f.type != "boolean" else bool(f.default),
        "defaultedOnCreate": f.default is not None
        or f.system
        or f.name == "OwnerId"
        or f.auto_number is not None,
        "dependentPicklist": False,
        "digits": f.precision if f.type == "int" else 0,
        "externalId": f.external_id,
        "filterable": f.type != "textarea",
        "groupable": f.type not in ("textarea", "double", "currency", "percent", "datetime"),
        "idLookup": f.type == "id" or f.external_id,
        "label": f.label,
        "length": length,
        "name": f.name,
        "nameField": f.name_field,
        "nillable": f.nillable,
        "picklistValues": [
            {
                "active": p.active,
                "defaultValue": p.default,
                "label": p.label,
                "validFor": None,
                "value": p.value,
            }
            for p in f.picklist
        ],
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "precision": f.precision if is_number and f.type != "int" else 0,
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "restrictedPicklist": f.restricted,
        "scale": f.scale if is_number and f.type != "int" else 0,
        "soapType": _SOAP.get(f.type, "xsd:string"),
        "sortable": f.type not in ("textarea", "multipicklist"),
        "type": f.type,
        "unique": f.unique,
        "updateable": f.updateable,
    }


def describe_object(schema: Schema, obj: ObjectDef, api_version: str) -> dict[str, Any]:
    """Return the ``GET /sobjects/{name}/describe`` body."""
    base = f"/services/data/v{api_version}"
    out = _object_summary(obj, base)
    out["fields"] = [_field(f) for f in obj.fields.values()]
    out["childRelationships"] = [
        {
            "cascadeDelete": ref.cascade_delete,
            "childSObject": child.name,
            "deprecatedAndHidden": False,
            "field": ref.name,
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": ref.child_relationship_name,
            "restrictedDelete": False,
        }
        for child, ref in schema.child_relationships(obj.name)
    ]
    out["recordTypeInfos"] = [
        {
            "active": True,
            "available": True,
            "defaultRecordTypeMapping": True,
            "developerName": "Master",
            "master": True,
            "name": "Master",
            "recordTypeId": MASTER_RECORD_TYPE,
            "urls": {"layout": f"{base}/sobjects/{obj.name}/describe/layouts/{MASTER_RECORD_TYPE}"},
        }
    ]
    out["supportedScopes"] = [{"label": "All " + obj.label_plural.lower(), "name": "everything"}]
    return out
