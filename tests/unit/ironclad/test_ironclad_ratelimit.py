from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts_common.ironclad import Bucket, MongoRateLimiter, NoRateLimiter, RateLimiter, bucket_for
from contracts_common.ironclad.ratelimit import gcra_interval, gcra_pipeline, gcra_wait


@pytest.mark.parametrize(
    ("method", "path", "bucket"),
    [
        ("GET", "/records", Bucket.records_read),
        ("GET", "/records/{id}", Bucket.records_read),
        ("GET", "/records/metadata", Bucket.records_read),
        ("GET", "/records/{id}/attachments/{key}", Bucket.records_read),
        ("GET", "/public/api/v1/records?page=0", Bucket.records_read),
        ("POST", "/records", Bucket.records_write),
        ("PUT", "/records/{id}", Bucket.records_write),
        ("PATCH", "/records/{id}", Bucket.records_write),
        ("DELETE", "/records/{id}", Bucket.records_write),
        ("POST", "/records/{id}/attachments/{key}", Bucket.records_write),
        ("get", "/workflows/{id}", Bucket.workflows_read),
        ("GET", "/workflows", Bucket.workflows_read),
        ("POST", "/workflows", Bucket.workflows_write),
        ("GET", "/webhooks", Bucket.webhooks),
        ("POST", "/webhooks", Bucket.webhooks),
        ("DELETE", "/webhooks/{id}", Bucket.webhooks),
        ("GET", "/webhooks/verification-key", Bucket.webhooks),
        ("GET", "/entities", Bucket.other),
        ("GET", "/recordsx", Bucket.other),
        ("POST", "/oauth/token", None),
    ],
)
def test_bucket_for(method: str, path: str, bucket: Bucket | None) -> None:
    assert bucket_for(method, path) == bucket


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeCollection:
    """Evaluates exactly the pipeline update the limiter sends, with Python semantics."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]] = []

    async def find_one_and_update(self, flt: dict[str, Any], update: list[dict[str, Any]], **kw: Any) -> Any:
        self.calls.append((flt, update, kw))
        expr = update[0]["$set"]["tat"]["$add"]
        now = expr[0]["$max"][1]
        interval = expr[1]
        doc = self.docs.setdefault(flt["_id"], {"_id": flt["_id"]})
        doc["tat"] = max(doc.get("tat", now), now) + interval
        return dict(doc)


def limiter(clock: FakeClock, coll: FakeCollection, **kw: Any) -> MongoRateLimiter:
    return MongoRateLimiter(coll, kw.pop("limits", None), clock=clock, sleep=clock.sleep, **kw)


def test_interval_math() -> None:
    assert gcra_interval(600, 1.0) == pytest.approx(0.1)
    assert gcra_interval(600, 0.95) == pytest.approx(60 / 570)
    assert gcra_wait(new_tat=110.0, interval=1.0, now=100.0, burst_seconds=1.0) == pytest.approx(8.0)
    assert gcra_wait(new_tat=100.5, interval=1.0, now=100.0, burst_seconds=1.0) == 0.0
    with pytest.raises(ValueError):
        gcra_interval(0, 0.9)
    with pytest.raises(ValueError):
        gcra_interval(10, 1.5)


def test_pipeline_shape() -> None:
    pipe = gcra_pipeline(5.0, 0.25, 1000)
    assert pipe == [
        {
            "$set": {
                "tat": {"$add": [{"$max": [{"$ifNull": ["$tat", 5.0]}, 5.0]}, 0.25]},
                "interval": 0.25,
                "expire_at": {"$add": ["$$NOW", 1000]},
            }
        }
    ]


async def test_burst_then_even_pacing() -> None:
    clock, coll = FakeClock(), FakeCollection()
    rl = limiter(clock, coll, limits={Bucket.records_read: 60}, headroom=1.0, burst_seconds=2.0)
    start = clock.now
    waits = [await rl.acquire("t", Bucket.records_read) for _ in range(8)]
    # interval 1 s, burst 2 s: the first three go at once, then one per second.
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert clock.now - start == pytest.approx(5.0)
    assert coll.calls[0][0] == {"_id": "t:records_read"}
    assert coll.calls[0][2]["upsert"] is True


async def test_idle_time_is_not_banked() -> None:
    clock, coll = FakeClock(), FakeCollection()
    rl = limiter(clock, coll, limits={Bucket.other: 60}, headroom=1.0, burst_seconds=0.0)
    await rl.acquire("t", Bucket.other)
    clock.now += 3600
    assert await rl.reserve("t", Bucket.other) == 0.0
    assert await rl.reserve("t", Bucket.other) == pytest.approx(1.0)


async def test_tenants_and_buckets_are_separate() -> None:
    clock, coll = FakeClock(), FakeCollection()
    rl = limiter(clock, coll, limits={Bucket.records_write: 60}, headroom=1.0, burst_seconds=0.0)
    assert await rl.reserve("a", Bucket.records_write) == 0.0
    assert await rl.reserve("b", Bucket.records_write) == 0.0
    assert await rl.reserve("a", Bucket.records_read) == 0.0
    assert await rl.reserve("a", Bucket.records_write) == pytest.approx(1.0)


def test_default_limits_and_headroom() -> None:
    rl = MongoRateLimiter(FakeCollection())
    assert rl.interval(Bucket.records_read) == pytest.approx(60 / (600 * 0.95))
    assert rl.interval(Bucket.records_write) == pytest.approx(60 / (200 * 0.95))
    assert rl.interval(Bucket.workflows_read) == pytest.approx(60 / (400 * 0.95))
    assert rl.interval(Bucket.webhooks) == pytest.approx(60 / (600 * 0.95))
    assert rl.interval(Bucket.other) == pytest.approx(60 / (800 * 0.95))


@settings(max_examples=40, deadline=None)
@given(
    limit=st.integers(min_value=10, max_value=800),
    replicas=st.integers(min_value=1, max_value=4),
    burst=st.floats(min_value=0.0, max_value=2.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=50, max_size=400),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_any_60s_window_stays_under_limit(
    limit: int, replicas: int, burst: float, gaps: list[float], seed: int
) -> None:
    """Replicas sharing one document never send more than `limit` in any 60 s window,
    whatever the arrival pattern (requests arrive in bursts and are sent after their wait)."""
    import random

    rng = random.Random(seed)

    async def run() -> list[float]:
        clock, coll = FakeClock(), FakeCollection()
        rls = [
            limiter(clock, coll, limits={Bucket.records_read: limit}, burst_seconds=burst)
            for _ in range(replicas)
        ]
        sent: list[float] = []
        arrival = clock.now
        # Twice the gaps' worth of demand, with every third request arriving in the same instant.
        for gap in gaps + gaps:
            arrival += gap if rng.random() < 0.3 else 0.0
            clock.now = arrival
            wait = await rng.choice(rls).reserve("t", Bucket.records_read)
            sent.append(arrival + wait)
        return sorted(sent)

    sent = asyncio.run(run())
    j = 0
    for i, t in enumerate(sent):
        while sent[j] <= t - 60:
            j += 1
        assert i - j + 1 <= limit


async def test_no_rate_limiter() -> None:
    rl: RateLimiter = NoRateLimiter()
    assert await rl.acquire("t", Bucket.other) == 0.0
    assert isinstance(MongoRateLimiter(FakeCollection()), RateLimiter)
