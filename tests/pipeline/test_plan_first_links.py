"""A dry run over systems that already hold each other's records (a new state store, an
agent re-installed) predicts what the real first pass does: the records it links by their
match keys or external IDs are referred to through those links in the same run, so their
children are not predicted as dead letters the sync would not make."""

from __future__ import annotations

from tandem_env import Env

from tandem.pipeline.report import PassReport
from tandem.pipeline.runtime import running_engine


def dead(report: PassReport) -> dict[tuple[str, str], int]:
    """(entity, direction) -> records dead-lettered, where any were."""
    return {
        (entity, direction): counts["dead_lettered"]
        for entity, by_direction in report.as_dict()["counts"].items()
        for direction, counts in by_direction.items()
        if counts.get("dead_lettered")
    }


async def test_a_first_plan_over_linked_systems_predicts_the_first_sync(env: Env) -> None:
    env.fix_the_bad_nip()
    async with running_engine(env.flow()) as engine:
        await engine.sync()
    # the same two systems, a state store that knows nothing of them
    fresh = env.flow(**{"state.db": "state-again.db"})
    async with running_engine(fresh) as engine:
        planned = await engine.sync(dry_run=True)
        synced = await engine.sync()
    assert dead(synced) == {}
    assert dead(planned) == dead(synced)
