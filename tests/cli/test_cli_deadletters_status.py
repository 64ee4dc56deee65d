"""`deadletters list --status all` says each letter's status: open, dropped and resolved
letters listed together cannot be told apart otherwise."""

from __future__ import annotations

from cli_run import tandem, tandem_json
from tandem_env import Env


def test_letters_of_every_status_are_listed_with_their_status(env: Env) -> None:
    config = str(env.config)
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0
    letters = tandem_json("deadletters", "list", "-c", config)
    customer = next(d["id"] for d in letters if d["entity"] == "customer")
    contacts = [d["id"] for d in letters if d["entity"] == "contact"]
    assert tandem("deadletters", "drop", "-c", config, str(contacts[0]))[0] == 0
    env.fix_the_bad_nip()
    assert tandem("sync", "-c", config, "--no-progress")[0] == 0

    code, out = tandem("deadletters", "list", "-c", config, "--status", "all")
    assert code == 0, out
    rows = {
        cells[0]: cells[-1]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) > 1
        and cells[0].isdigit()
    }
    header = next(line for line in out.splitlines() if "entity" in line)
    assert header.rstrip("┃ ").endswith("status")
    assert rows[str(customer)] == "resolved"
    assert rows[str(contacts[0])] == "dropped"
    # one status asked for: the title names it, no column repeats it
    code, out = tandem("deadletters", "list", "-c", config, "--status", "open")
    assert code == 0 and "status" not in next(x for x in out.splitlines() if "entity" in x)
