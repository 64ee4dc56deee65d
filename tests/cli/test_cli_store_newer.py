"""``tandem store migrate`` and ``tandem sync`` on a store a newer Tandem wrote."""

from __future__ import annotations

import sqlalchemy as sa
from cli_run import tandem
from tandem_env import Env

from tandem.store.engine import VERSION_TABLE


def test_a_store_newer_than_the_code_is_refused_with_a_clear_message(env: Env) -> None:
    config = str(env.config)
    code, out = tandem("store", "migrate", "-c", config)
    assert code == 0, out
    engine = sa.create_engine(env.flow().state_url())
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '0999'"))
    finally:
        engine.dispose()
    for command in (("store", "migrate"), ("sync", "--no-progress")):
        code, out = tandem(*command, "-c", config)
        assert code == 1, out
        assert "schema revision 0999 is newer than this Tandem knows" in out
        assert "upgrade Tandem" in out
