"""A table or column the ERP lacks is reported at its file, line and setting in the flow."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlerp import Erp

from tandem.config import FlowSpec, load_flow
from tandem.connectors.sql import SqlConnector
from tandem.connectors.sql.source import resolve
from tandem.errors import BindingError

FLOW = """\
version: 1
name: located
connections:
  erp: {{type: sql, url: "sqlite:///unused.db"}}
  crm: {{type: salesforce, instance_url: https://127.0.0.1:8443}}
entities:
  customer:
    model: customer
    erp:
      source: {table}
      key: id
      external_id: crm_id
      options:
        modified_column: updated_at
        soft_delete_column: deleted
    crm: {{source: Account, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: name, erp: name, crm: Name}}
      - field: tax_id
        erp: nip
        crm: Tax_Id__c
      - {{field: x_label, erp_expr: "upper(name) + ' ' + country_code", crm: Label__c}}
"""


def write_flow(folder: Path, erp: Erp, old: str = "", new: str = "") -> tuple[Path, str]:
    text = FLOW.format(table=erp.customers.name)
    assert old in text
    text = text.replace(old, new, 1)
    path = folder / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text: str, needle: str) -> int:
    return next(n for n, row in enumerate(text.splitlines(), 1) if needle in row)


def unbound(erp: Erp, flow: FlowSpec) -> BindingError:
    """What resolving the flow's ERP binding of ``customer`` raises."""
    with erp.engine.connect() as conn, pytest.raises(BindingError) as info:
        resolve(conn, flow.entity("customer").binding("erp"), None)
    return info.value


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("erp: name,", "erp: nmae,", "fields[0].erp", "column 'nmae' is not in"),
        ("erp: nip", "erp: tax_no", "fields[1].erp", "column 'tax_no' is not in"),
        ("+ country_code", "+ land", "fields[2].erp_expr", "column 'land' is not in"),
        ("key: id", "key: ident", "erp.key", "column 'ident' is not in"),
        ("external_id: crm_id", "external_id: crm_no", "erp.external_id", "column 'crm_no'"),
        (
            "modified_column: updated_at",
            "modified_column: changed",
            "erp.options.modified_column",
            "column 'changed' is not in",
        ),
        (
            "soft_delete_column: deleted",
            "soft_delete_column: gone",
            "erp.options.soft_delete_column",
            "column 'gone' is not in",
        ),
        (
            "    fields:\n",
            "    delete: {policy: archive, erp_field: retired}\n    fields:\n",
            "delete.erp_field",
            "column 'retired' is not in",
        ),
        ("source: customers_", "source: nowhere_", "erp.source", "no table or view 'nowhere_"),
    ],
)
def test_a_missing_column_or_table_is_placed_at_its_setting(
    erp: Erp, tmp_path: Path, old: str, new: str, field: str, message: str
) -> None:
    path, text = write_flow(tmp_path, erp, old, new)
    flow = load_flow(path)
    error = unbound(erp, flow)
    assert error.field == "entities.customer" and error.file is None  # the connector's view
    placed = flow.place(error, "erp")
    line = line_of(text, new.strip().splitlines()[0])
    assert isinstance(placed, BindingError)
    where = (placed.file, placed.line, placed.field)
    assert where == (str(path), line, f"entities.customer.{field}")
    assert str(placed).startswith(f"{path}:{line}: entities.customer.{field}: {message}")


def test_a_flag_field_inherited_from_defaults_is_placed_under_defaults(
    erp: Erp, tmp_path: Path
) -> None:
    defaults = "defaults:\n  delete: {policy: archive, erp_field: retired}\nentities:\n"
    path, text = write_flow(tmp_path, erp, "entities:\n", defaults)
    flow = load_flow(path)
    placed = flow.place(unbound(erp, flow), "erp")
    assert placed.line == line_of(text, "erp_field: retired")
    assert placed.field == "entities.customer.delete.erp_field"


async def test_describe_raises_what_the_flow_places(erp: Erp, tmp_path: Path) -> None:
    path, text = write_flow(tmp_path, erp, "erp: nip", "erp: tax_no")
    flow = load_flow(path)
    connector = SqlConnector(erp.settings())
    await connector.open()
    try:
        with pytest.raises(BindingError) as info:
            await connector.describe(flow.entity("customer").binding("erp"))
    finally:
        await connector.close()
    placed = flow.place(info.value, "erp")
    line = line_of(text, "erp: tax_no")
    assert str(placed) == (
        f"{path}:{line}: entities.customer.fields[1].erp:"
        f" column 'tax_no' is not in {erp.customers.name!r}"
    )
