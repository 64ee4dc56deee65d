"""``tandem store``: a store belongs to one flow; a renamed flow adopts its state."""

from __future__ import annotations

import json

from cli_run import tandem
from tandem_env import Env


def test_a_renamed_flow_is_refused_until_it_adopts_its_state(env: Env) -> None:
    config = str(env.config)
    code, _ = tandem("sync", "-c", config, "--no-progress")
    assert code == 0
    name = env.flow().name
    env.flow(**{f"name: {name}\n": "name: renamed\n"})

    code, out = tandem("sync", "-c", config, "--no-progress")
    assert code == 1
    assert f"holds the state of flow '{name}', not of flow 'renamed'" in " ".join(out.split())

    code, out = tandem("store", "adopt", "--from", name, "-c", config)
    assert code == 0, out
    assert "tandem_cursor" in out
    code, out = tandem("sync", "-c", config, "--json", "--no-progress")
    assert code == 0, out
    report = json.loads(out)
    assert report["write_calls"] == 0  # the links and cursors came along: nothing is redone
