"""`tandem check` places what the ERP database lacks at the flow file's line and setting."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from cli_run import tandem
from tandem_env import Env, build_env


def _check(env: Env, old: str, new: str) -> tuple[int, str, str]:
    env.flow(**{old: new})
    text = env.config.read_text(encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if new in row)
    code, out = tandem("check", "-c", str(env.config))
    return code, out.replace("\n", ""), f"{env.config}:{line}:"


def test_an_unknown_erp_column_is_named_at_its_line_and_field(env: Env) -> None:
    code, out, where = _check(env, "erp: name, crm: Name", "erp: nmae, crm: Name")
    assert code == 1, out  # the mapping does not fit the ERP (2: the config itself is bad)
    assert f"{where} entities.customer.fields[0].erp: column 'nmae' is not in 'customers'" in out


def test_an_unknown_erp_table_is_named_at_its_line(env: Env) -> None:
    code, out, where = _check(env, "{source: customers, key: id", "{source: klienci, key: id")
    assert code == 1, out
    assert f"{where} entities.customer.erp.source:" in out and "'klienci'" in out


def test_an_erp_change_log_of_an_earlier_release_is_advised_at_the_connection(
    tmp_path: Path, pg_fresh_url: str
) -> None:
    """PostgreSQL: a change log without the late-commit bookkeeping (installed by an earlier
    release) still runs, but `check` says to re-run install-capture, at the connection."""
    for env in build_env(tmp_path, pg_fresh_url):
        engine = sa.create_engine(pg_fresh_url)
        try:
            with engine.begin() as db:
                db.exec_driver_sql("ALTER TABLE tandem_changelog DROP COLUMN xid")
                db.exec_driver_sql("DROP TABLE tandem_changelog_reads")
        finally:
            engine.dispose()
        text = env.config.read_text(encoding="utf-8")
        line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip() == "erp:")
        code, out = tandem("check", "-c", str(env.config))
        flat = out.replace("\n", "")
        assert code == 0, out
        assert f"{env.config}:{line}: connections.erp: tandem_changelog:" in flat
        assert "run `tandem erp install-capture` again" in flat


def test_every_missing_erp_column_and_crm_field_is_named_in_one_check(env: Env) -> None:
    env.flow(
        **{
            "erp: name, crm: Name": "erp: nmae, crm: Name",
            "erp: number, crm: AccountNumber": "erp: nmbr, crm: AccountNumber",
            "{field: last_name, erp: last_name, crm: LastName": (
                "{field: last_name, erp: last_name, crm: LastNmae"
            ),
        }
    )
    text = env.config.read_text(encoding="utf-8")
    lines = {
        token: next(n for n, row in enumerate(text.splitlines(), 1) if token in row)
        for token in ("erp: nmae", "erp: nmbr", "crm: LastNmae")
    }
    code, out = tandem("check", "-c", str(env.config))
    flat = out.replace("\n", "")
    assert code == 1, out
    assert (
        f"{env.config}:{lines['erp: nmae']}: entities.customer.fields[0].erp: column 'nmae'" in flat
    )
    assert (
        f"{env.config}:{lines['erp: nmbr']}: entities.customer.fields[1].erp: column 'nmbr'" in flat
    )
    assert f"{env.config}:{lines['crm: LastNmae']}: entities.contact.fields[" in flat
    assert "'LastNmae'" in flat


def test_a_query_the_database_refuses_is_named_at_its_setting(env: Env) -> None:
    old = "erp: {source: customers, key: id, external_id: crm_id"
    new = old + ", options: {query: 'SELECT id, nmae FROM customers', write_table: customers}"
    code, out, where = _check(env, old, new)
    assert code == 1, out
    assert f"{where} entities.customer.erp.options.query: the database refuses the query:" in out
    assert "nmae" in out
