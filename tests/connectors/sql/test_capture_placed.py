"""install-capture refuses a binding's table or key column at its setting in the flow file.

Given the tables of a flow's bindings (``capture_tables``), ``install_capture`` raises a
``BindingError`` naming the entity, the setting (``key``, ``source``, ``options.capture_table``,
``options.write_table``) and the native name, which ``FlowSpec.place`` turns into
``file:line: entities.customer.erp.key: ...``. Tables given as plain pairs keep the error of
``tables``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlerp import Erp

from tandem.config import load_flow
from tandem.connectors.base import EntityBinding
from tandem.connectors.sql import capture_status, install_capture
from tandem.connectors.sql.capture import CaptureTable, capture_tables
from tandem.errors import BindingError, ConfigError

FLOW = """\
version: 1
name: placed
connections:
  erp: {{type: sql, url: "sqlite:///unused.db"}}
  crm: {{type: salesforce, instance_url: https://127.0.0.1:8443}}
entities:
  customer:
    model: customer
    erp:
      source: {table}
      key: {key}
      external_id: crm_id
      options:
        modified_column: updated_at
    crm: {{source: Account, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: name, erp: name, crm: Name}}
"""


def _placed(
    erp: Erp,
    folder: Path,
    table: str,
    key: str = "id",
    old: str = "",
    new: str = "",
    at: str = "",
) -> tuple[BindingError, str, int]:
    """Install capture for the flow's bindings (``old`` replaced with ``new`` in the flow);
    the error raised, placed by the flow, with the flow file and the line expected: that of
    ``at``, else of ``new``'s last line, else of ``key:``."""
    text = FLOW.format(table=table, key=key)
    if old:
        text = text.replace(old, new, 1)
    path = folder / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    flow = load_flow(path)
    bindings = [spec.binding("erp") for spec in flow.ordered_entities()]
    with pytest.raises(BindingError) as info:
        install_capture(erp.engine, capture_tables(bindings), changelog_table=erp.changelog)
    error = info.value
    assert (error.entity, error.file, error.field) == ("customer", None, "entities.customer")
    placed = flow.place(error, "erp")
    assert isinstance(placed, BindingError) and placed.file == str(path)
    needle = at or (new.strip().splitlines()[-1] if new else f"key: {key}")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if needle in row)
    assert placed.line == line
    # nothing was installed
    status = capture_status(erp.engine, [erp.customers.name], changelog_table=erp.changelog)
    assert not status.changelog_exists and status.tables == {erp.customers.name: False}
    return placed, str(path), line


def test_a_missing_key_column_is_placed_at_the_key(erp: Erp, tmp_path: Path) -> None:
    t = erp.customers.name
    placed, path, line = _placed(erp, tmp_path, t, key="ident")
    assert (placed.setting, placed.native) == ("key", "ident")
    assert str(placed) == (
        f"{path}:{line}: entities.customer.erp.key: table {t!r} has no column 'ident'"
    )


@pytest.mark.parametrize(
    ("key", "why"),
    [("email", "neither the primary key nor unique"), ("crm_id", "may be NULL")],
)
def test_a_key_that_names_no_one_row_is_placed_at_the_key(
    erp: Erp, tmp_path: Path, key: str, why: str
) -> None:
    placed, path, line = _placed(erp, tmp_path, erp.customers.name, key=key)
    assert (placed.setting, placed.native) == ("key", key)
    assert str(placed).startswith(f"{path}:{line}: entities.customer.erp.key: table ")
    assert why in str(placed)


def test_a_key_type_without_exact_text_is_placed_at_the_key(erp: Erp, tmp_path: Path) -> None:
    t = f"{erp.customers.name}_f"
    float_type = "DOUBLE PRECISION" if erp.dialect == "postgresql" else "DOUBLE"
    if erp.dialect == "sqlite":
        float_type = "REAL"
    erp.execute(sa.text(f"CREATE TABLE {t} (k {float_type} NOT NULL PRIMARY KEY, name TEXT)"))
    placed, path, line = _placed(erp, tmp_path, t, key="k")
    assert (placed.setting, placed.native) == ("key", "k")
    assert str(placed).startswith(
        f"{path}:{line}: entities.customer.erp.key: table {t!r}: key column 'k' of type "
    )
    assert "floating-point" in str(placed)


def test_a_missing_source_table_is_placed_at_the_source(erp: Erp, tmp_path: Path) -> None:
    placed, path, line = _placed(erp, tmp_path, "nowhere", at="source: nowhere")
    assert (placed.setting, placed.native) == ("source", "nowhere")
    assert str(placed) == (
        f"{path}:{line}: entities.customer.erp.source: no table 'nowhere' to capture "
        "(views cannot be)"
    )


def test_a_view_source_is_placed_at_the_source_and_told_of_capture_table(
    erp: Erp, tmp_path: Path
) -> None:
    view = f"{erp.customers.name}_v"
    erp.execute(sa.text(f"CREATE VIEW {view} AS SELECT * FROM {erp.customers.name}"))
    placed, path, line = _placed(erp, tmp_path, view, at=f"source: {view}")
    assert str(placed) == (
        f"{path}:{line}: entities.customer.erp.source: no table {view!r} to capture: it is a "
        "view, and views cannot be: set options.capture_table to the table whose changes "
        "feed it"
    )


@pytest.mark.parametrize("option", ["capture_table", "write_table"])
def test_a_missing_capture_or_write_table_is_placed_at_its_option(
    erp: Erp, tmp_path: Path, option: str
) -> None:
    modified = "        modified_column: updated_at\n"
    placed, path, line = _placed(
        erp, tmp_path, erp.customers.name, old=modified, new=f"{modified}        {option}: gone\n"
    )
    assert (placed.setting, placed.native) == (f"options.{option}", "gone")
    assert str(placed) == (
        f"{path}:{line}: entities.customer.erp.options.{option}: no table 'gone' to capture "
        "(views cannot be)"
    )


def test_the_table_of_a_binding_is_its_capture_table_else_write_table_else_source() -> None:
    def bind(name: str, **options: str) -> EntityBinding:
        return EntityBinding(name, f"{name}_src", "id", (), options=options)

    bindings = [
        bind("a"),
        bind("b", write_table="b_t"),
        bind("c", write_table="c_t", capture_table="c_c"),
        bind("d", capture_table="d_c", query="SELECT 1"),
        bind("e", capture_table=""),  # unset
    ]
    assert capture_tables(bindings) == [
        CaptureTable("a_src", "id", "a", "source"),
        CaptureTable("b_t", "id", "b", "options.write_table"),
        CaptureTable("c_c", "id", "c", "options.capture_table"),
        CaptureTable("d_c", "id", "d", "options.capture_table"),
        CaptureTable("e_src", "id", "e", "source"),
    ]


def test_plain_pairs_are_refused_as_the_tables_argument(erp: Erp) -> None:
    with pytest.raises(ConfigError) as info:
        install_capture(erp.engine, [(erp.customers.name, "ident")], changelog_table=erp.changelog)
    assert not isinstance(info.value, BindingError)
    assert info.value.field == "tables"
    assert str(info.value) == f"tables: table {erp.customers.name!r} has no column 'ident'"


def test_capture_tables_of_a_sound_flow_install(erp: Erp) -> None:
    bindings = [erp.binding(), erp.contact_binding()]
    install_capture(erp.engine, capture_tables(bindings), changelog_table=erp.changelog)
    names = [erp.customers.name, erp.contacts.name]
    status = capture_status(erp.engine, names, changelog_table=erp.changelog)
    assert status.tables == dict.fromkeys(names, True)
