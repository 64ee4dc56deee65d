"""`tandem check` places what the ERP database lacks at the flow file's line and setting."""

from __future__ import annotations

from cli_run import tandem
from tandem_env import Env


def _check(env: Env, old: str, new: str) -> tuple[int, str, str]:
    env.flow(**{old: new})
    text = env.config.read_text(encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if new in row)
    code, out = tandem("check", "-c", str(env.config))
    return code, out.replace("\n", ""), f"{env.config}:{line}:"


def test_an_unknown_erp_column_is_named_at_its_line_and_field(env: Env) -> None:
    code, out, where = _check(env, "erp: name, crm: Name", "erp: nmae, crm: Name")
    assert code == 2, out
    assert f"{where} entities.customer.fields[0].erp: column 'nmae' is not in 'customers'" in out


def test_an_unknown_erp_table_is_named_at_its_line(env: Env) -> None:
    code, out, where = _check(env, "{source: customers, key: id", "{source: klienci, key: id")
    assert code == 2, out
    assert f"{where} entities.customer.erp.source:" in out and "'klienci'" in out
