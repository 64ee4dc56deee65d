"""``tandem deadletters`` and ``tandem conflicts`` given ids no store can hold (a mistyped
id with too many digits): named as unknown, like any other id the flow has no item under."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cli_run import tandem
from tandem_env import Env

TOO_BIG = str(2**64)


@pytest.mark.parametrize(
    "command",
    [
        ("deadletters", "retry", TOO_BIG),
        ("deadletters", "drop", TOO_BIG),
        ("conflicts", "drop", TOO_BIG),
        ("conflicts", "resolve", TOO_BIG, "--erp"),
    ],
)
def test_an_id_beyond_the_id_column_is_an_unknown_id(env: Env, command: tuple[str, ...]) -> None:
    config = str(env.config)
    tandem("sync", "-c", config, "--no-progress")  # a state store with some of everything
    code, out = tandem(*command, "-c", config)
    assert code == 1, out
    what = "dead letter" if command[0] == "deadletters" else "conflict"
    assert f"has no {what} {TOO_BIG}" in " ".join(out.split())


def test_a_store_failure_while_retrying_is_an_error_message_not_a_traceback(env: Env) -> None:
    config = str(env.config)
    tandem("sync", "-c", config, "--no-progress")  # the demo's invalid NIP: a dead letter
    engine = sa.create_engine(env.flow().state_url())
    try:
        with engine.begin() as conn:  # a queue the store cannot write (a broken database)
            conn.execute(sa.text("ALTER TABLE tandem_work RENAME TO tandem_work_gone"))
    finally:
        engine.dispose()
    code, out = tandem("deadletters", "retry", "-c", config)
    assert code == 1, out
    assert "error: state store: enqueue" in " ".join(out.split())
