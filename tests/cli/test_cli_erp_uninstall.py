"""``tandem erp uninstall-capture``: Tandem removed from the ERP, its triggers first.

The demo flow between a SQLite ERP and the sandbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from cli_run import tandem
from tandem_env import Env

from tandem.connectors.sql.capture import capture_status
from tandem.demo.erp import TABLES


def _entries(env: Env) -> int:
    return int(env.erp_rows("SELECT COUNT(*) FROM tandem_changelog")[0][0])


def test_uninstall_drops_the_triggers_and_with_the_flag_the_change_log(env: Env) -> None:
    tables = [table for table, _ in TABLES]
    code, out = tandem("erp", "uninstall-capture", "-c", str(env.config))
    assert code == 0, out
    assert "no change capture on customers" in out
    status = capture_status(env.erp_url, tables)
    assert status.changelog_exists and not any(status.tables.values())
    logged = _entries(env)
    env.erp("UPDATE customers SET phone = '+48 600 500 600' WHERE id = 2")
    assert _entries(env) == logged  # the ERP's writes are logged no more

    code, out = tandem("erp", "install-capture", "-c", str(env.config))
    assert code == 0, out
    assert all(capture_status(env.erp_url, tables).tables.values())

    code, out = tandem("erp", "uninstall-capture", "-c", str(env.config), "--drop-changelog")
    assert code == 0, out
    assert "change log dropped" in out
    assert not capture_status(env.erp_url, tables).changelog_exists
    engine = sa.create_engine(env.erp_url)
    try:
        left = sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert not [name for name in left if name.startswith("tandem_changelog")]
