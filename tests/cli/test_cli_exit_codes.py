"""What ``tandem`` says and exits with where it used to mislead: reconcile exits 1 while
differences remain, resolving an unknown conflict is no config error, and the commands that
only read the state create none where there is none."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from cli_run import tandem, tandem_json
from tandem_env import Env


def flat(out: str) -> str:
    """``out`` on one line: a long path or message may be wrapped on the console."""
    return " ".join(out.split())


def test_reconcile_exits_1_while_differences_remain_and_0_once_heal_repaired_them(
    env: Env,
) -> None:
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    # The demo's customer with a bad NIP cannot be mapped; its two contacts wait for it.
    code, out = tandem("reconcile", "-c", config, "--no-progress")
    assert code == 1, out
    assert out.splitlines()[-1] == "3 differences"
    found = tandem_json("reconcile", "-c", config, "--no-progress", code=1)
    assert (found["differences"], found["remaining"]) == (3, 3)

    # --heal queues what it can; the repair pass dead-letters it again: nothing repaired.
    code, out = tandem("reconcile", "-c", config, "--no-progress", "--heal")
    assert code == 1, out
    assert out.splitlines()[-1].startswith("3 differences, 2 queued for repair")
    assert out.splitlines()[-1].endswith("; 3 not repaired")
    healing = tandem_json("reconcile", "-c", config, "--no-progress", "--heal", code=1)
    assert (healing["differences"], healing["remaining"]) == (3, 3)

    # Fixed at its source, the customer and its contacts are repaired: exit 0.
    env.fix_the_bad_nip()
    code, out = tandem("reconcile", "-c", config, "--no-progress", "--heal")
    assert code == 0, out
    assert out.splitlines()[-1].startswith("3 differences, 3 queued for repair: 3 written")
    assert "not repaired" not in out
    code, out = tandem("reconcile", "-c", config, "--no-progress")
    assert code == 0, out
    assert out.splitlines()[-1] == "0 differences"
    agreed = tandem_json("reconcile", "-c", config, "--no-progress")
    assert (agreed["differences"], agreed["remaining"]) == (0, 0)


def test_resolving_an_unknown_conflict_names_it_and_exits_1_as_drop_does(env: Env) -> None:
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    name = env.flow().name
    for command in (("resolve", "999999", "--crm"), ("drop", "999999")):
        code, out = tandem("conflicts", *command, "-c", config)
        assert code == 1, (command, out)
        assert f"flow {name} has no conflict 999999" in flat(out), (command, out)
        assert "config error" not in out, (command, out)
    code, out = tandem("conflicts", "resolve", "999999", "--value", "x", "-c", config)
    assert code == 1 and "config error" not in out, out


def missing_state(env: Env) -> Path:
    """Point the flow's state at a SQLite file (in a folder) that does not exist."""
    missing = env.folder / "nowhere" / "state.db"
    env.flow(**{f"sqlite:///{env.folder / 'state.db'}": f"sqlite:///{missing}"})
    return missing


READING = [
    ("status",),
    ("status", "--json"),
    ("deadletters", "list"),
    ("deadletters", "list", "--json"),
    ("conflicts", "list"),
    ("conflicts", "list", "--json"),
    ("deadletters", "retry"),
    ("deadletters", "retry", "1"),
    ("deadletters", "drop", "1"),
    ("conflicts", "drop", "1"),
]


@pytest.mark.parametrize("command", READING, ids=[" ".join(c) for c in READING])
def test_a_command_on_a_state_that_does_not_exist_says_so_and_creates_nothing(
    env: Env, command: tuple[str, ...]
) -> None:
    missing = missing_state(env)
    code, out = tandem(*command, "-c", str(env.config))
    assert code == 1, out
    assert f"no state at {missing}" in flat(out), out
    assert "has not been synced yet" in flat(out), out
    assert not missing.parent.exists()  # no store file, not even its folder


def test_resolve_on_a_state_that_does_not_exist_names_the_id_and_creates_nothing(
    env: Env,
) -> None:
    missing = missing_state(env)
    code, out = tandem("conflicts", "resolve", "7", "--erp", "-c", str(env.config))
    assert code == 1, out
    assert f"has no conflict 7 (no state at {missing}" in flat(out), out
    assert out.count("error:") == 1, out  # one error, one line of it
    assert "config error" not in out
    assert not missing.parent.exists()


def test_status_on_an_empty_file_leaves_it_empty(env: Env) -> None:
    empty = env.folder / "empty.db"
    empty.touch()
    env.flow(**{f"sqlite:///{env.folder / 'state.db'}": f"sqlite:///{empty}"})
    code, out = tandem("status", "-c", str(env.config))
    assert code == 1 and f"no state at {empty}" in flat(out), out
    assert empty.stat().st_size == 0  # not made a SQLite database by being looked at
    assert not empty.with_name("empty.db-wal").exists()


def test_a_file_uri_state_is_taken_as_its_own_path(env: Env) -> None:
    state = env.folder / "uri" / "state.db"
    state.parent.mkdir()
    env.flow(**{f"sqlite:///{env.folder / 'state.db'}": f"sqlite:///file:{state}?uri=true"})
    config = str(env.config)
    code, out = tandem("status", "-c", config)
    assert code == 1 and f"no state at file:{state}" in flat(out), out
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    assert state.is_file()
    assert tandem_json("status", "-c", config)["open_dead_letters"] == 3


def test_sync_still_creates_the_state_and_status_then_reads_it(env: Env) -> None:
    missing = missing_state(env)
    config = str(env.config)
    assert tandem("status", "-c", config)[0] == 1
    code, out = tandem("sync", "-c", config, "--no-progress")
    assert code == 0, out
    assert missing.is_file()
    assert tandem_json("status", "-c", config)["open_dead_letters"] == 3
    assert len(tandem_json("deadletters", "list", "-c", config)) == 3
    assert tandem_json("conflicts", "list", "-c", config) == []


@pytest.mark.postgres
def test_status_on_a_database_without_tandem_tables_creates_none(
    env: Env, pg_fresh_url: str
) -> None:
    env.flow(**{f"sqlite:///{env.folder / 'state.db'}": pg_fresh_url})
    database = sa.make_url(pg_fresh_url).database
    code, out = tandem("status", "-c", str(env.config))
    assert code == 1, out
    assert "no state at postgresql" in flat(out) and f"/{database}" in flat(out), out
    engine = sa.create_engine(pg_fresh_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
