"""A connector's error about an entity's binding, placed at its setting in the flow file."""

from __future__ import annotations

import pytest

from tandem.config import parse_flow
from tandem.errors import BindingError, ConfigError

from .flows import BASE


def line_of(text: str, needle: str) -> int:
    return next(n for n, row in enumerate(text.splitlines(), 1) if needle in row)


def unknown(native: str, setting: str = "fields", entity: str = "customer") -> BindingError:
    return BindingError(
        f"column {native!r} is not in 'customers'", entity=entity, setting=setting, native=native
    )


def test_a_binding_error_before_placing_names_the_entity() -> None:
    error = unknown("nip")
    assert isinstance(error, ConfigError)
    assert (error.file, error.line, error.field) == (None, None, "entities.customer")
    assert str(error) == "entities.customer: column 'nip' is not in 'customers'"


@pytest.mark.parametrize(
    ("side", "native", "setting", "path", "needle"),
    [
        ("erp", "nip", "fields", "fields[1].erp", "erp: nip"),
        ("erp", "code", "fields", "fields[3].erp_expr", "erp_expr:"),
        ("erp", "id", "key", "erp.key", "erp: {source: customers"),
        ("erp", "crm_id", "external_id", "erp.external_id", "erp: {source: customers"),
        ("erp", "customers", "source", "erp.source", "erp: {source: customers"),
        ("crm", "Tax_Id__c", "fields", "fields[1].crm", "crm: Tax_Id__c"),
        ("crm", "Id", "fields", "crm.key", "crm: {source: Account"),
        ("erp", "elsewhere", "fields", "erp", "erp: {source: customers"),
        ("erp", "changed", "options.modified_column", "erp.options", "erp: {source: customers"),
    ],
)
def test_place_finds_the_setting_and_its_line(
    side: str, native: str, setting: str, path: str, needle: str
) -> None:
    flow = parse_flow(BASE, file="flow.yaml")
    placed = flow.place(unknown(native, setting), "erp" if side == "erp" else "crm")
    line = line_of(BASE, needle)
    assert isinstance(placed, BindingError)
    assert (placed.file, placed.line, placed.field) == (
        "flow.yaml",
        line,
        f"entities.customer.{path}",
    )
    assert str(placed) == (
        f"flow.yaml:{line}: entities.customer.{path}: column {native!r} is not in 'customers'"
    )
    assert (placed.entity, placed.setting, placed.native) == ("customer", setting, native)


def test_an_option_written_in_block_style_is_placed_at_its_own_line() -> None:
    text = BASE.replace(
        "    erp: {source: customers, key: id, external_id: crm_id}\n",
        "    erp:\n      source: customers\n      key: id\n      external_id: crm_id\n"
        "      options:\n        modified_column: changed_at\n",
    )
    flow = parse_flow(text, file="flow.yaml")
    placed = flow.place(unknown("changed_at", "options.modified_column"), "erp")
    assert placed.line == line_of(text, "modified_column: changed_at")
    assert placed.field == "entities.customer.erp.options.modified_column"


def test_place_leaves_other_errors_alone() -> None:
    flow = parse_flow(BASE, file="flow.yaml")
    plain = ConfigError("the database URL cannot be parsed", field="url")
    assert flow.place(plain, "erp") is plain
    stranger = unknown("nip", entity="supplier")
    assert flow.place(stranger, "erp") is stranger
    placed = flow.place(unknown("nip"), "erp")
    assert flow.place(placed, "erp") is placed
