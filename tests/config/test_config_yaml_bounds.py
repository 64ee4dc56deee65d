"""YAML that never finishes loading (aliases expanded a billion times, an alias inside itself,
nesting deeper than Python's stack) is a ConfigError naming the file, not a hang or a crash."""

from __future__ import annotations

import pytest

from tandem.config import parse_flow
from tandem.config.loader import MAX_NODES, read_yaml
from tandem.errors import ConfigError

from .flows import BASE


def _laughs(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_once() -> None:
    # before: six levels took 13 s to read; nine (a 1 KB file) would never end
    with pytest.raises(ConfigError, match=f"more than {MAX_NODES} settings") as info:
        read_yaml(_laughs(9), "flow.yaml")
    assert info.value.file == "flow.yaml"
    assert info.value.line is not None and info.value.field is not None


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a {b: [1, *a]}\n"])
def test_an_alias_inside_what_it_names_is_refused(text: str) -> None:
    # before: RecursionError
    with pytest.raises(ConfigError, match="alias refers to a mapping or list that contains it"):
        read_yaml(text, "flow.yaml")


def test_nesting_deeper_than_the_stack_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="nested too deeply") as info:
        read_yaml("a: " + "[" * 20_000 + "]" * 20_000 + "\n", "flow.yaml")
    assert info.value.file == "flow.yaml"


def test_anchors_aliases_and_merges_of_a_real_flow_still_load() -> None:
    text = BASE.replace(
        "  customer:\n    model: customer\n",
        "  customer:\n    model: customer\n    schedule: &every {mode: interval, seconds: 30}\n",
    ).replace(
        "  contact:\n    model: contact\n",
        "  contact:\n    model: contact\n    schedule:\n      <<: *every\n      seconds: 15\n",
    )
    spec = parse_flow(text, file="flow.yaml")
    assert spec.entities["customer"].schedule.model_dump() == {"mode": "interval", "seconds": 30}
    assert spec.entities["contact"].schedule.model_dump() == {"mode": "interval", "seconds": 15}


def test_a_list_repeating_one_alias_many_times_is_fine() -> None:
    text = "x: &x {k: 1}\ny: [" + ", ".join(["*x"] * 1000) + "]\n"
    data, _ = read_yaml(text)
    assert len(data["y"]) == 1000
