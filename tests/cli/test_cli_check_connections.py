"""`tandem check` places a connection it cannot use at the flow file's line and setting,
instead of failing with a traceback: a CA bundle that is missing or no PEM, an ERP URL whose
dialect or driver this installation lacks, a CRM object that does not exist."""

from __future__ import annotations

import re

import pytest
from cli_run import tandem
from tandem_env import Env


def _check(env: Env, pattern: str, new: str) -> tuple[int, str, str]:
    """``tandem check`` with the config line matching ``pattern`` rewritten to ``new``."""
    text = env.config.read_text(encoding="utf-8")
    text, count = re.subn(pattern, new, text, count=1)
    assert count == 1
    env.config.write_text(text, encoding="utf-8")
    last = new.splitlines()[-1].strip()
    line = next(n for n, row in enumerate(text.splitlines(), 1) if last in row)
    code, out = tandem("check", "-c", str(env.config))
    return code, " ".join(out.split()), f"{env.config}:{line}:"


def test_a_missing_ca_file_is_named_at_its_line(env: Env) -> None:
    missing = env.folder / "nowhere.pem"
    code, out, where = _check(env, r"ca_file: .*", f"ca_file: {missing}")
    assert code == 2, out
    assert f"{where} connections.crm.ca_file:" in out
    assert "cannot be used as a CA bundle: No such file or directory" in out
    assert "Traceback" not in out


def test_a_ca_file_that_holds_no_certificate_is_named_at_its_line(env: Env) -> None:
    junk = env.folder / "junk.pem"
    junk.write_text("not a certificate\n", encoding="utf-8")
    code, out, where = _check(env, r"ca_file: .*", f"ca_file: {junk}")
    assert code == 2, out
    assert f"{where} connections.crm.ca_file:" in out and "holds no PEM certificate" in out


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mssqlx://erp@127.0.0.1/erp", "unknown database dialect 'mssqlx'"),
        (
            "postgresql+psycopg2://erp@127.0.0.1/erp",
            "the driver of 'postgresql+psycopg2' is not installed (no module 'psycopg2')",
        ),
    ],
)
def test_an_erp_url_this_installation_cannot_connect_with_is_named_at_its_line(
    env: Env, url: str, said: str
) -> None:
    code, out, where = _check(env, r"url: sqlite:.*", f"url: {url}")
    assert code == 2, out
    assert f"{where} connections.erp.url:" in out and said in out
    assert "Traceback" not in out


def test_an_erp_url_naming_no_driver_gets_the_one_tandem_ships(env: Env) -> None:
    """``postgresql://`` connects with psycopg (3), as the state store's URL does: the check
    gets as far as connecting (nothing listens on port 9), not to a missing psycopg2."""
    code, out, _ = _check(env, r"url: sqlite:.*", "url: postgresql://erp@127.0.0.1:9/erp")
    assert code != 0
    assert "psycopg2" not in out and "driver" not in out and "Traceback" not in out


def test_an_unknown_crm_object_is_named_at_its_line(env: Env) -> None:
    code, out, where = _check(env, r"source: Account,", "source: Acount,")
    assert code == 1, out  # the mapping does not fit the CRM, as for an unknown field
    assert f"{where} entities.customer.crm.source:" in out
    assert "no object 'Acount' in Salesforce" in out


def test_a_jwt_key_file_that_cannot_be_read_is_named_at_its_line(env: Env) -> None:
    missing = env.folder / "keys" / "nowhere.key"
    code, out, where = _check(
        env, r"auth_flow: password", f"auth_flow: jwt\n    private_key_file: {missing}"
    )
    assert code == 2, out
    assert f"{where} connections.crm.private_key_file:" in out and "cannot be read" in out
    assert "Traceback" not in out
