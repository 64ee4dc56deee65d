"""The delete policy's flag values are checked against the flag field's description before
any write: a ``value`` or ``cleared`` the system would refuse is a config problem, located at
that setting, not a dead letter per deleted or restored record."""

from __future__ import annotations

import pytest

from tandem.config import FlowSpec, parse_flow
from tandem.connectors.base import FieldInfo
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
