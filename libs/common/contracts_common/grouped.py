"""Concurrent callers' single operations run as one grouped operation: one round trip for many.

A request handler that needs one database row asks `GroupedCalls.call(item)`; while a group is being
written, the items that arrive meanwhile wait for the next one. No fixed delay is added: a lone caller
on an idle server goes at once, and under a burst the groups grow to the number of callers waiting, so
the round trips per caller fall exactly when the server is busiest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupedCalls(Generic[Item, Result]):
    """`call(item)` answers `run(group)[i]` for the group the item went into.

    `run` gets the items in arrival order and returns one result per item, in the same order; if it
    raises, every caller of that group gets the exception. At most `max_in_flight` groups run at once,
    each of at most `max_group` items.
    """

    def __init__(
        self,
        run: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        max_group: int = 256,
        max_in_flight: int = 1,
    ) -> None:
        self._run = run
        self._max_group = max_group
        self._slots = asyncio.Semaphore(max_in_flight)
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def call(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._waiting.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        # Shielded: a caller that gives up must not cancel the group the others are in.
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._waiting:
            await self._slots.acquire()
            group, self._waiting = self._waiting[: self._max_group], self._waiting[self._max_group :]
            if not group:
                self._slots.release()
                break
            task = asyncio.create_task(self._run_group(group))
            task.add_done_callback(lambda _: self._slots.release())
            await asyncio.sleep(0)  # let the callers of this loop turn join the next group

    async def _run_group(self, group: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._run([item for item, _ in group])
            if len(results) != len(group):
                raise RuntimeError(f"a grouped call returned {len(results)} results for {len(group)} items")
        except BaseException as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a group's exception as seen even when its caller gave up waiting for it."""
    if not future.cancelled():
        future.exception()
