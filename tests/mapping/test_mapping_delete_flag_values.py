"""The delete policy's flag values are checked against the flag field's description before
any write: a ``value`` or ``cleared`` the system would refuse is a config problem, located at
that setting, not a dead letter per deleted or restored record."""

from __future__ import annotations

import pytest

from tandem.config import FlowSpec, parse_flow
from tandem.connectors.base import EntitySchema, FieldInfo
from tandem.errors import ConfigError
from tandem.mapping import binding_problems

from .conftest import FLOW
from .test_mapping_schema import account

FLAGGED = "    match: [tax_id]\n    delete: {policy: flag, erp_field: hold, crm_field: "


def _flow(delete: str, flag: str = "Hold__c") -> FlowSpec:
    text = FLOW.replace("    match: [tax_id]\n", f"{FLAGGED}{flag}{delete}}}\n", 1)
    return parse_flow(text, file="mapping.yaml")


def _problems(
    delete: str, flag: str = "Hold__c", **fields: FieldInfo
) -> list[tuple[tuple[str | int, ...], str]]:
    flow = _flow(delete, flag)
    found = binding_problems(
        flow.entity("customer"), "crm", account(**fields), True, flow.value_maps
    )
    return [(p.path, p.message) for p in found]


def test_flag_values_the_field_takes_pass() -> None:
    assert _problems(", value: true, cleared: false") == []


@pytest.mark.parametrize(
    ("delete", "setting", "shown"),
    [
        (", value: 'yes'", "value", "'yes'"),
        (", value: true, cleared: 0", "cleared", "0"),
    ],
)
def test_a_flag_value_a_checkbox_refuses_names_the_setting(
    delete: str, setting: str, shown: str
) -> None:
    assert _problems(delete) == [
        (
            ("delete", setting),
            f"crm Account: delete {setting} {shown} cannot be written to Hold__c"
            f" (entity customer): expected true or false, got {shown}",
        )
    ]


def test_a_flag_value_outside_a_restricted_picklist() -> None:
    status = FieldInfo(
        "Status__c", "picklist", picklist=("Active", "Archived"), restricted_picklist=True
    )
    found = _problems(", value: Archived, cleared: Live", "Status__c", Status__c=status)
    assert found == [
        (
            ("delete", "cleared"),
            "crm Account: delete cleared 'Live' cannot be written to Status__c (entity customer):"
            " 'Live' is not in the restricted picklist",
        )
    ]


def test_not_checked_where_tandem_does_not_write() -> None:
    flow = _flow(", value: 'yes'")
    assert binding_problems(flow.entity("customer"), "crm", account(), False) == []


def _erp_problems(delete: str, hold: FieldInfo) -> list[tuple[tuple[str | int, ...], str]]:
    """The flag's check against the ERP's ``customers`` table, its ``hold`` column ``hold``."""
    flow = _flow(delete)
    erp = EntitySchema(
        "customers",
        {
            "id": FieldInfo("id", "integer", nillable=False),
            "crm_id": FieldInfo("crm_id", "string", length=18),
            "name": FieldInfo("name", "string", length=80),
            "nip": FieldInfo("nip", "string", length=20),
            "email": FieldInfo("email", "string", length=80),
            "country": FieldInfo("country", "string", length=2),
            "currency": FieldInfo("currency", "string", length=3),
            "note": FieldInfo("note", "string", length=200),
            "hold": hold,
        },
    )
    found = binding_problems(flow.entity("customer"), "erp", erp, True, flow.value_maps)
    return [(p.path, p.message) for p in found if p.path[0] == "delete"]


def test_each_side_may_hold_the_flag_its_own_way() -> None:
    """An INTEGER column in the ERP, a checkbox in the CRM: one ``value`` fits neither both,
    so each side can be given its own (``erp_value``, ``erp_cleared``)."""
    hold = FieldInfo("hold", "integer")
    one_value = ", value: false, cleared: true"
    assert [path for path, _ in _erp_problems(one_value, hold)] == [
        ("delete", "value"),
        ("delete", "cleared"),
    ]
    per_side = ", value: false, cleared: true, erp_value: 0, erp_cleared: 1"
    assert _erp_problems(per_side, hold) == []
    assert _problems(per_side) == []  # the CRM's checkbox still takes value and cleared
    flow = _flow(per_side)
    delete = flow.entity("customer").delete
    assert (delete.value_on("erp"), delete.value_on("crm")) == (0, False)
    assert (delete.clears("erp"), delete.clears("crm")) == (("hold", 1), ("Hold__c", True))


def test_a_side_value_that_equals_its_cleared_value_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"delete\.erp_cleared.*must differ from value"):
        _flow(", value: false, cleared: true, erp_value: 0, erp_cleared: 0")
