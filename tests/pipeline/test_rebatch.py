"""Batches count new changes only; re-reads of the overlap window ride along, within bounds."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from tandem.connectors.base import Change, Cursor
from tandem.pipeline.rebatch import fresh_batches

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def change(n: int) -> Change:
    return Change(f"{n:05d}", {"n": n}, T0 + timedelta(seconds=n))


async def stream(*batches: Sequence[Change]) -> AsyncIterator[Sequence[Change]]:
    for batch in batches:
        yield batch


async def cut(
    since: Cursor | None, size: int, *batches: Sequence[Change], first: int | None = None
) -> list[list[int]]:
    return [
        [int(c.key) for c in batch]
        async for batch in fresh_batches(stream(*batches), since, size, first)
    ]


async def test_a_re_read_change_does_not_push_the_last_new_one_into_a_batch_of_its_own() -> None:
    since = change(1).cursor  # change 1 was synced; the overlap window reads it again
    connector = ([change(n) for n in range(1, 5)], [change(5)])  # batches of 4, as asked
    assert await cut(since, 4, *connector) == [[1, 2, 3, 4, 5]]


async def test_new_changes_are_cut_at_the_size_and_nothing_is_lost_or_repeated() -> None:
    changes = [change(n) for n in range(1, 12)]
    got = await cut(None, 4, changes[:5], changes[5:9], changes[9:])
    assert got == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11]]


async def test_a_window_full_of_re_reads_is_cut_at_twice_the_size() -> None:
    since = change(9).cursor
    got = await cut(since, 3, [change(n) for n in range(1, 11)])
    assert got == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10]]
    assert all(len(batch) <= 6 for batch in got)


async def test_an_empty_read_is_passed_on() -> None:
    assert await cut(change(3).cursor, 4, []) == [[]]
    assert await cut(None, 4) == []


async def test_a_short_first_batch_then_full_ones_nothing_lost_or_repeated() -> None:
    changes = [change(n) for n in range(1, 12)]
    got = await cut(None, 4, changes[:5], changes[5:], first=2)
    assert got == [[1, 2], [3, 4, 5, 6], [7, 8, 9, 10], [11]]


async def test_a_first_size_above_the_size_is_the_size() -> None:
    changes = [change(n) for n in range(1, 8)]
    assert await cut(None, 3, changes, first=10) == [[1, 2, 3], [4, 5, 6], [7]]
    assert await cut(None, 3, changes, first=0) == [[1], [2, 3, 4], [5, 6, 7]]
