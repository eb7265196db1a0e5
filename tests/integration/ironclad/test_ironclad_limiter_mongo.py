"""MongoRateLimiter against a real MongoDB: replicas sharing one collection stay under the rate."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient, monitoring

from contracts_common.ironclad import Bucket, MongoRateLimiter
from contracts_common.storage.database import INDEXES

MONGODB_URL_ENV = "TEST_MONGODB_URL"


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = j = 0
    for i, t in enumerate(times):
        while times[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


class FakeClock:
    """The limiter's clock and sleep: the server evaluates the same pipeline, time only moves here."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def limiter(clock: FakeClock, coll: Any, **kw: Any) -> MongoRateLimiter:
    return MongoRateLimiter(coll, kw.pop("limits", None), clock=clock, sleep=clock.sleep, **kw)


async def test_burst_then_even_pacing(mongo_db: Any) -> None:
    clock, coll = FakeClock(), mongo_db["ironclad_rate_limits"]
    rl = limiter(clock, coll, limits={Bucket.records_read: 60}, headroom=1.0, burst_seconds=2.0)
    start = clock.now
    waits = [await rl.acquire("t", Bucket.records_read) for _ in range(8)]
    # interval 1 s, burst 2 s: the first three go at once, then one per second.
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert clock.now - start == pytest.approx(5.0)
    assert await coll.count_documents({"_id": "t:records_read"}) == 1


async def test_idle_time_is_not_banked(mongo_db: Any) -> None:
    clock, coll = FakeClock(), mongo_db["ironclad_rate_limits"]
    rl = limiter(clock, coll, limits={Bucket.other: 60}, headroom=1.0, burst_seconds=0.0)
    await rl.acquire("t", Bucket.other)
    clock.now += 3600
    assert await rl.reserve("t", Bucket.other) == 0.0
    assert await rl.reserve("t", Bucket.other) == pytest.approx(1.0)


async def test_tenants_and_buckets_are_separate(mongo_db: Any) -> None:
    clock, coll = FakeClock(), mongo_db["ironclad_rate_limits"]
    rl = limiter(clock, coll, limits={Bucket.records_write: 60}, headroom=1.0, burst_seconds=0.0)
    assert await rl.reserve("a", Bucket.records_write) == 0.0
    assert await rl.reserve("b", Bucket.records_write) == 0.0
    assert await rl.reserve("a", Bucket.records_read) == 0.0
    assert await rl.reserve("a", Bucket.records_write) == pytest.approx(1.0)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    limit=st.integers(min_value=10, max_value=800),
    replicas=st.integers(min_value=1, max_value=4),
    burst=st.floats(min_value=0.0, max_value=2.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=50, max_size=200),
    seed=st.integers(min_value=0, max_value=1000),
)
async def test_any_60s_window_stays_under_limit(
    mongo_db: Any, limit: int, replicas: int, burst: float, gaps: list[float], seed: int
) -> None:
    """Replicas sharing one document never send more than `limit` in any 60 s window,
    whatever the arrival pattern (requests arrive in bursts and are sent after their wait)."""
    rng = random.Random(seed)
    clock, coll = FakeClock(), mongo_db[f"limits_{uuid.uuid4().hex[:8]}"]
    rls = [
        limiter(clock, coll, limits={Bucket.records_read: limit}, burst_seconds=burst)
        for _ in range(replicas)
    ]
    sent: list[float] = []
    arrival = clock.now
    # Twice the gaps' worth of demand, with about two in three requests arriving in the same instant.
    for gap in gaps + gaps:
        arrival += gap if rng.random() < 0.3 else 0.0
        clock.now = arrival
        wait = await rng.choice(rls).reserve("t", Bucket.records_read)
        sent.append(arrival + wait)
    assert max_in_window(sent, 60.0) <= limit


async def test_pipeline_update_on_real_server(mongo_db: Any) -> None:
    coll = mongo_db["ironclad_rate_limits"]
    rl = MongoRateLimiter(coll, {Bucket.records_write: 60}, headroom=1.0, burst_seconds=0.0)
    await coll.create_indexes(INDEXES["rate_limits"])  # as Database.ensure_indexes does
    assert await rl.reserve("acme", Bucket.records_write) == 0.0
    second = await rl.reserve("acme", Bucket.records_write)
    assert 0.9 < second <= 1.0
    doc = await coll.find_one({"_id": "acme:records_write"})
    assert doc is not None
    assert doc["interval"] == 1.0
    assert doc["tat"] > time.time() + 1.5
    assert "expire_at" in doc
    indexes = await coll.index_information()
    assert any(ix.get("expireAfterSeconds") == 0 for ix in indexes.values())


async def test_concurrent_first_upserts(mongo_db: Any) -> None:
    coll = mongo_db["ironclad_rate_limits"]
    # One slot per write (batch_seconds=0), so all 30 writes race to create the document.
    rl = MongoRateLimiter(coll, {Bucket.other: 600}, headroom=1.0, burst_seconds=10.0, batch_seconds=0)
    before = time.time()
    waits = await asyncio.gather(*(rl.reserve("fresh", Bucket.other) for _ in range(30)))
    assert all(w == 0.0 for w in waits)  # within the 10 s burst
    doc = await coll.find_one({"_id": "fresh:other"})
    assert doc is not None
    # All 30 reservations were recorded on the one document, none lost to the upsert race.
    assert doc["tat"] >= before + 30 * 0.1 - 1e-6
    assert doc["tat"] <= time.time() + 30 * 0.1


async def test_two_replicas_share_the_budget(mongo_db: Any) -> None:
    """Two limiter instances (as two replicas, each with its own local slots), four greedy workers
    each, for ~3 s: together they keep to the paced rate, not twice it."""
    limit, headroom, burst = 600, 0.95, 0.3  # interval = 60 / 570 s ~ 105 ms
    writes = WriteCounter()
    second_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        os.environ.get(MONGODB_URL_ENV, "mongodb://127.0.0.1:27017"), event_listeners=[writes]
    )
    try:
        replicas = [
            MongoRateLimiter(
                db["ironclad_rate_limits"],
                {Bucket.records_read: limit},
                headroom=headroom,
                burst_seconds=burst,
            )
            for db in (second_client[mongo_db.name], second_client[mongo_db.name])
        ]
        interval = replicas[0].interval(Bucket.records_read)
        sent: list[float] = []
        per_replica = [0, 0]
        duration = 3.0
        start = time.time()

        async def worker(index: int) -> None:
            while time.time() - start < duration:
                await replicas[index].acquire("acme", Bucket.records_read)
                sent.append(time.time())
                per_replica[index] += 1

        await asyncio.gather(*(worker(i) for i in (0, 1) for _ in range(4)))
    finally:
        await second_client.close()

    in_run = [t for t in sent if t - start <= duration]
    allowed = duration / interval + burst / interval + 1
    assert len(in_run) <= allowed + 1  # +1: scheduling slack of the last sleeper
    assert len(in_run) >= 0.75 * duration / interval  # and they do get the throughput
    # Evenly paced: no 1 s window holds more than a second's worth plus the burst.
    assert max_in_window(sent, 1.0) <= 1.0 / interval + burst / interval + 2
    # Both replicas got a fair share of the slots.
    assert min(per_replica) >= 0.3 * len(sent)
    # Slots are reserved several at a time (1, 2, 4, ... up to a second's worth): far fewer database
    # writes than requests, even in a run this short that is mostly ramp-up.
    assert writes.count <= len(sent) / 2, (writes.count, len(sent))


class WriteCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "findAndModify":
            self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass
