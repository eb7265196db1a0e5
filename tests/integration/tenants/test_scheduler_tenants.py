"""R26 (issue 21): periodic work scales with the tenants that are due, and a tenant whose Ironclad hangs
delays only its own turn. The importer's real scheduler against the real database and the simulator,
driven by an injected clock: every tenant's turn is made due at once by moving the clock, not by
waiting an interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from contracts_common.ironclad import ALL_SCOPES
from contracts_common.metrics import MONGODB_COMMANDS
from contracts_common.runtime import Runtime, connected
from contracts_common.settings import ImporterSettings
from contracts_common.timeutil import utcnow
from importer.bootstrap import build_access, build_publisher, build_scheduler
from importer.scheduler import Scheduler
from tests.support.api import AdminApi
from tests.support.services import Stack, wait_for

EMAIL = "admin@acme.example"
TENANTS = 12
HANGING = "tenant-0"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    scheduler: Scheduler
    clock: Clock
    runtime: Runtime
    companies: dict[str, str]


@pytest.fixture
async def world(
    stack: Stack, api: AdminApi, sim: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    """TENANTS tenants connected through the gateway, each to its own Ironclad company, and one
    importer's scheduler (not started: the test ticks it)."""
    companies: dict[str, str] = {}
    for n in range(TENANTS):
        company = await sim.create_company(users=[EMAIL], apps=[{"scopes": list(ALL_SCOPES)}])
        await sim.seed(company["company_id"], count=3, seed=n, document_ratio=0.0)
        tenant = f"tenant-{n}"
        answer = await api.connect(tenant, company["apps"][0], EMAIL)
        assert answer.status == 200, answer.body
        companies[tenant] = str(company["company_id"])
    stack.apply_env(monkeypatch, IRONCLAD_TIMEOUT_SECONDS="120", MAX_RETRIES="0")
    settings = ImporterSettings()
    async with (
        connected(settings, "importer") as runtime,
        aiohttp.ClientSession() as session,
    ):
        access = build_access(runtime, settings, session)
        now = utcnow()
        clock = Clock(now.replace(microsecond=now.microsecond // 1000 * 1000))  # MongoDB keeps ms
        scheduler = build_scheduler(runtime, access, build_publisher(runtime, settings), clock=clock)
        await runtime.db.connections.count_documents({})  # the index exists before the first tick
        try:
            yield World(scheduler, clock, runtime, companies)
        finally:
            scheduler.pool.cancel()
            await asyncio.gather(*scheduler.pool.running.values(), return_exceptions=True)


def commands(kind: str) -> float:
    return float(MONGODB_COMMANDS.labels(service="importer", command=kind)._value.get())


async def counted(work: Callable[[], Awaitable[Any]]) -> tuple[Any, dict[str, float]]:
    kinds = ("find", "update", "insert", "aggregate", "findAndModify")
    before = {k: commands(k) for k in kinds}
    result = await work()
    return result, {k: commands(k) - before[k] for k in kinds if commands(k) != before[k]}


async def test_a_tick_is_one_indexed_query_and_takes_only_due_tenants(world: World) -> None:
    scheduler, clock = world.scheduler, world.clock
    await world.runtime.db.connections.update_many({}, {"$set": {"next_due_at": clock.now}})
    # First sight of each tenant: its turns are planned (one write each), nothing runs yet.
    started, _ = await counted(scheduler.tick)
    assert started == 0
    # Nothing due: the whole tick is one query, however many tenants there are.
    clock.now += timedelta(seconds=30)
    started, used = await counted(scheduler.tick)
    assert (started, used) == (0, {"find": 1})
    planned = {d["tenant"]: d async for d in world.runtime.db.connections.find({})}
    assert all(d["next_due_at"] == d["schedule"]["delta"]["due_at"] for d in planned.values())
    # The incremental passes are due about a minute after connecting, spread per tenant over a tenth of
    # the interval: at the median due time, a tick takes exactly the tenants due by then.
    dues = sorted(d["next_due_at"] for d in planned.values())
    clock.now = dues[len(dues) // 2]
    started = await scheduler.tick()
    await wait_for(lambda: _idle(scheduler), timeout=20, what="the turns to end")
    taken = {
        d["tenant"] async for d in world.runtime.db.connections.find({"schedule.delta.last_at": clock.now})
    }
    assert taken == {t for t, d in planned.items() if d["next_due_at"] <= clock.now}
    assert started == len(taken) >= 1


async def _idle(scheduler: Scheduler) -> bool:
    return not scheduler.pool.running


async def test_a_hanging_tenant_delays_only_itself(world: World, sim: Any) -> None:
    scheduler, clock = world.scheduler, world.clock
    # Its Ironclad holds every records request for 8 s: long beside the others' turns (milliseconds
    # here), short enough not to keep the simulator's shutdown waiting for the held request.
    await sim.add_fault(
        r"^/public/api/v1/records", company_id=world.companies[HANGING], delay_ms=8_000, times=1000
    )
    clock.now += timedelta(hours=3)  # every tenant's reconciliation and incremental pass are due
    await world.runtime.db.connections.update_many({}, {"$set": {"next_due_at": clock.now}})
    assert await scheduler.tick() == TENANTS

    async def only_the_hanging_one_runs() -> bool:
        return set(scheduler.pool.running) == {HANGING}

    await wait_for(only_the_hanging_one_runs, timeout=30, what="every other tenant's turn to end")
    # Every other tenant's incremental pass asked its Ironclad for changes and got its answer (its
    # turn ended); the hanging one is still waiting for its answer.
    for tenant, company in world.companies.items():
        listings = (await sim.company_stats(company))["listings"]
        assert any(q["sortDirection"] == "ASC" for q in listings), (tenant, listings)
    assert not scheduler.pool.running[HANGING].done()
    # A minute later every other tenant's next pass is due and taken; the hanging tenant's turn still
    # runs, so it is passed over rather than started twice.
    clock.now += timedelta(seconds=75)
    assert await scheduler.tick() == TENANTS - 1
    await wait_for(only_the_hanging_one_runs, timeout=30, what="the second turns to end")
    for tenant in world.companies:
        doc = await world.runtime.db.connections.find_one({"tenant": tenant})
        assert doc is not None
        delta = doc["schedule"]["delta"]
        expected_last = clock.now - timedelta(seconds=75) if tenant == HANGING else clock.now
        assert delta["last_at"] == expected_last, tenant
