"""The importer's event coalescer: a tenant's burst becomes one sync; events are held until it is done."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts_common.messages import WebhookEvent
from contracts_common.messaging import Delivery
from importer.events import EventHandlers


class Recorder(EventHandlers):
    def __init__(self, coalesce: float, *, fail: bool = False, sync_seconds: float = 0.0, **kw: Any) -> None:
        super().__init__(
            access=None,  # type: ignore[arg-type]
            broker=None,  # type: ignore[arg-type]
            runs=None,  # type: ignore[arg-type]
            contracts=None,  # type: ignore[arg-type]
            publisher=None,  # type: ignore[arg-type]
            failures=None,  # type: ignore[arg-type]
            coalesce_seconds=coalesce,
            concurrency=4,
            **kw,
        )
        self.synced: list[tuple[str, list[str]]] = []
        self.fail = fail
        self.sync_seconds = sync_seconds
        self.running = 0
        self.max_running = 0

    async def sync(self, tenant: str, events: list[WebhookEvent], delivery_count: int = 0) -> str | None:
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.sync_seconds)
            self.synced.append((tenant, [e.event_id for e in events]))
            if self.fail:
                raise RuntimeError("Ironclad unavailable")
            return "run"
        finally:
            self.running -= 1


def event(tenant: str, n: int) -> WebhookEvent:
    return WebhookEvent(
        tenant=tenant,
        event_id=f"e{n}",
        event="record_contract_status_changed",
        payload={"recordID": f"r{n % 3}"},
        received_at=datetime.now(UTC),
    )


async def deliver(handlers: EventHandlers, tenant: str, n: int, gap: float) -> list[asyncio.Task[None]]:
    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(handlers.handle(event(tenant, i), Delivery(None, 0))))
        await asyncio.sleep(gap)
    return tasks


async def test_a_burst_with_short_gaps_is_one_sync() -> None:
    handlers = Recorder(coalesce=0.1)
    tasks = await deliver(handlers, "a", 15, 0.02)  # 0.3 s in all, never a 0.1 s pause
    assert not any(t.done() for t in tasks), "events are held until their sync is done"
    await asyncio.gather(*tasks)
    assert len(handlers.synced) == 1
    assert len(handlers.synced[0][1]) == 15


async def test_tenants_are_synced_separately() -> None:
    handlers = Recorder(coalesce=0.05)
    tasks = await deliver(handlers, "a", 3, 0) + await deliver(handlers, "b", 2, 0)
    await asyncio.gather(*tasks)
    assert sorted((t, len(ids)) for t, ids in handlers.synced) == [("a", 3), ("b", 2)]


async def test_events_during_a_sync_form_one_follow_up_sync() -> None:
    handlers = Recorder(coalesce=0.05, sync_seconds=0.8)
    first = await deliver(handlers, "a", 2, 0)
    await asyncio.sleep(0.1)  # the first sync is running now
    more = await deliver(handlers, "a", 6, 0.07)  # pauses longer than the window, while it runs
    await asyncio.gather(*first, *more)
    assert handlers.max_running == 1, "one sync at a time per tenant"
    assert [len(ids) for _, ids in handlers.synced] == [2, 6]


async def test_a_full_batch_is_synced_without_waiting() -> None:
    handlers = Recorder(coalesce=10.0, max_batch=5)
    tasks = await deliver(handlers, "a", 5, 0)
    await asyncio.wait_for(asyncio.gather(*tasks), 2.0)
    assert len(handlers.synced) == 1


async def test_the_wait_is_bounded_for_a_steady_trickle() -> None:
    handlers = Recorder(coalesce=0.1, max_wait_factor=3.0)
    tasks = await deliver(handlers, "a", 20, 0.05)  # 1 s of events, never a pause
    await asyncio.gather(*tasks)
    assert len(handlers.synced) >= 2, "a batch is synced at most 0.3 s after its first event"


async def test_a_failed_sync_fails_every_held_event() -> None:
    handlers = Recorder(coalesce=0.05, fail=True)
    tasks = await deliver(handlers, "a", 4, 0)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_cancelled_handler_does_not_cancel_the_batch() -> None:
    handlers = Recorder(coalesce=0.1)
    tasks = await deliver(handlers, "a", 3, 0)
    tasks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    await asyncio.gather(*tasks[1:])
    assert len(handlers.synced) == 1
