"""``tandem erp install-capture`` reports a binding the ERP cannot capture at its file and line.

The connector names the entity, the setting and the native name (a ``BindingError``); the
command places it in the flow file: ``flow.yaml:31: entities.contact.erp.key: ...``, exit 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from cli_run import tandem
from tandem_env import Env

from tandem.connectors.base import EntityBinding
from tandem.errors import BindingError, ConfigError

FLOW = """\
version: 1
name: placed
connections:
  erp: {type: sql, url: "sqlite:///unused.db"}
  crm: {type: salesforce, instance_url: https://127.0.0.1:8443}
entities:
  customer:
    model: customer
    erp:
      source: customers
      key: id
      external_id: crm_id
    crm: {source: Account, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: name, erp: name, crm: Name}
"""


def _flat(out: str) -> str:
    """The output with every run of white space (and a console's line wrap) as one space."""
    return " ".join(out.split())


def _line(config: Path, needle: str) -> int:
    text = config.read_text(encoding="utf-8")
    return next(n for n, row in enumerate(text.splitlines(), 1) if needle in row)


# -- the command places what a connector raises ------------------------------------------------


class _Refusing:
    """An ERP connector whose install_capture raises ``error``."""

    system = "sql"

    def __init__(self, error: ConfigError) -> None:
        self.error = error
        self.closed = False
        self.bindings: list[EntityBinding] = []

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self.closed = True

    async def install_capture(self, bindings: Sequence[EntityBinding]) -> None:
        self.bindings = list(bindings)
        raise self.error


def _run_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: ConfigError
) -> tuple[int, str, Path, _Refusing]:
    config = tmp_path / "flow.yaml"
    config.write_text(FLOW, encoding="utf-8")
    connector = _Refusing(error)
    monkeypatch.setattr("tandem.cli.erp.build_connector", lambda flow, side: connector)
    code, out = tandem("erp", "install-capture", "-c", str(config))
    return code, out, config, connector


@pytest.mark.parametrize(
    ("setting", "native", "needle", "field"),
    [
        ("key", "id", "key: id", "erp.key"),
        ("source", "customers", "source: customers", "erp.source"),
    ],
)
def test_a_binding_error_is_placed_at_its_setting(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    setting: str,
    native: str,
    needle: str,
    field: str,
) -> None:
    error = BindingError("cannot be captured", entity="customer", setting=setting, native=native)
    code, out, config, connector = _run_refused(monkeypatch, tmp_path, error)
    assert code == 2, out
    where = f"{config}:{_line(config, needle)}: entities.customer.{field}"
    assert f"config error: {where}: cannot be captured" in _flat(out)
    assert connector.closed and [b.name for b in connector.bindings] == ["customer"]
    assert "change capture on" not in out


def test_other_config_errors_pass_unchanged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plain = ConfigError("change capture is not available for oracle")
    code, out, _, connector = _run_refused(monkeypatch, tmp_path, plain)
    assert code == 2
    assert "config error: change capture is not available for oracle" in _flat(out)
    stranger = BindingError("no such column", entity="invoice", setting="key", native="no")
    code, out, _, _ = _run_refused(monkeypatch, tmp_path, stranger)
    assert code == 2
    assert "config error: entities.invoice: no such column" in _flat(out)
    assert connector.closed


# -- through the SQL connector, on the demo's SQLite ERP --------------------------------------


def test_a_missing_key_column_is_reported_at_its_line(env: Env) -> None:
    contacts = "erp: {source: contacts, key: id, external_id: crm_id}"
    env.flow(**{contacts: contacts.replace("key: id", "key: ident")})
    code, out = tandem("erp", "install-capture", "-c", str(env.config))
    assert code == 2, out
    line = _line(env.config, "key: ident")
    assert (
        f"config error: {env.config}:{line}: entities.contact.erp.key: "
        "table 'contacts' has no column 'ident'"
    ) in _flat(out)


def test_a_key_type_without_exact_text_is_reported_at_its_line(env: Env) -> None:
    env.erp("CREATE TABLE floaty (k REAL NOT NULL PRIMARY KEY, code TEXT, name TEXT)")
    categories = "erp: {source: product_categories, key: id, external_id: crm_id}"
    env.flow(**{categories: "erp: {source: floaty, key: k}"})
    code, out = tandem("erp", "install-capture", "-c", str(env.config))
    assert code == 2, out
    line = _line(env.config, "source: floaty")
    flat = _flat(out)
    assert (
        f"config error: {env.config}:{line}: entities.product_category.erp.key: "
        "table 'floaty': key column 'k' of type REAL cannot be captured: a floating-point"
    ) in flat
    assert "change capture on" not in flat
