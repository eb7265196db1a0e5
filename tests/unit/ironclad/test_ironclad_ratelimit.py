from __future__ import annotations

import pytest

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


def test_default_limits_and_headroom() -> None:
    rl = MongoRateLimiter(None)
    assert rl.interval(Bucket.records_read) == pytest.approx(60 / (600 * 0.95))
    assert rl.interval(Bucket.records_write) == pytest.approx(60 / (200 * 0.95))
    assert rl.interval(Bucket.workflows_read) == pytest.approx(60 / (400 * 0.95))
    assert rl.interval(Bucket.webhooks) == pytest.approx(60 / (600 * 0.95))
    assert rl.interval(Bucket.other) == pytest.approx(60 / (800 * 0.95))


async def test_no_rate_limiter() -> None:
    rl: RateLimiter = NoRateLimiter()
    assert await rl.acquire("t", Bucket.other) == 0.0
    assert isinstance(MongoRateLimiter(None), RateLimiter)
