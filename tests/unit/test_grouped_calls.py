"""GroupedCalls: concurrent single calls become few grouped ones, each caller gets its own answer."""

from __future__ import annotations

import asyncio

import pytest

from contracts_common.grouped import GroupedCalls


async def test_callers_waiting_together_share_one_group_and_get_their_own_results() -> None:
    groups: list[list[int]] = []
    release = asyncio.Event()

    async def run(items: list[int]) -> list[int]:
        groups.append(items)
        await release.wait()
        return [i * 10 for i in items]

    grouped: GroupedCalls[int, int] = GroupedCalls(run)
    first = asyncio.create_task(grouped.call(0))
    await asyncio.sleep(0.01)  # the lone first caller goes at once, in a group of its own
    rest = [asyncio.create_task(grouped.call(i)) for i in range(1, 21)]
    await asyncio.sleep(0.01)
    assert groups == [[0]]  # the others wait for the group in flight
    release.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [i * 10 for i in range(1, 21)]
    assert groups == [[0], list(range(1, 21))]


async def test_groups_are_capped_in_size() -> None:
    sizes: list[int] = []

    async def run(items: list[int]) -> list[None]:
        sizes.append(len(items))
        await asyncio.sleep(0)
        return [None] * len(items)

    grouped: GroupedCalls[int, None] = GroupedCalls(run, max_group=8)
    await asyncio.gather(*(grouped.call(i) for i in range(30)))
    assert sum(sizes) == 30
    assert max(sizes) == 8


async def test_a_failed_group_fails_each_of_its_callers_and_the_next_group_runs() -> None:
    calls = 0

    async def run(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("server gone")
        return items

    grouped: GroupedCalls[int, int] = GroupedCalls(run)
    results = await asyncio.gather(*(grouped.call(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await grouped.call(7) == 7


async def test_a_run_answering_the_wrong_number_of_results_is_an_error() -> None:
    async def run(items: list[int]) -> list[int]:
        return items[:-1]

    grouped: GroupedCalls[int, int] = GroupedCalls(run)
    with pytest.raises(RuntimeError, match="2 results for 3 items"):
        await asyncio.gather(*(grouped.call(i) for i in range(3)))


async def test_a_caller_that_gives_up_does_not_cancel_its_group() -> None:
    done: list[list[int]] = []

    async def run(items: list[int]) -> list[int]:
        await asyncio.sleep(0.05)
        done.append(items)
        return items

    grouped: GroupedCalls[int, int] = GroupedCalls(run)
    impatient = asyncio.create_task(grouped.call(1))
    patient = asyncio.create_task(grouped.call(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await patient == 2
    assert [1] in done or [1, 2] in done
