"""Client-side pacing under Ironclad's per-account rate limits (§6.1).

`MongoRateLimiter` is a GCRA (theoretical-arrival-time) limiter whose state lives in MongoDB, so
every process and replica that talks to one Ironclad account draws from the same budget. Each
`acquire` makes one atomic `find_one_and_update` with an aggregation-pipeline update:

    tat' = max(tat, now) + k * interval          interval = 60 / (limit * headroom)

reserves the k slots `max(tat, now) + i * interval` (i < k) for this process, which hands them to
its callers one by one from a local queue: a caller sleeps until `slot - burst_seconds`. So requests
are spaced evenly, at most about `burst_seconds / interval` go out back to back, and over any 60 s
window N replicas together send at most `limit * headroom + burst_seconds / interval` requests, below
`limit`, with one database write per k requests rather than per request. k starts at 1 and doubles
while a process keeps coming back for more within a second, up to the slots of `batch_seconds`; a
slot left unused (its time long past) is dropped, which only ever leaves budget unspent.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import structlog

from .regions import API_PREFIX, TOKEN_PATH

log = structlog.get_logger(__name__)


class Bucket(enum.StrEnum):
    records_read = "records_read"
    records_write = "records_write"
    workflows_read = "workflows_read"
    workflows_write = "workflows_write"
    webhooks = "webhooks"
    other = "other"


# Requests per minute per Ironclad account (§6.1).
DEFAULT_LIMITS: Mapping[Bucket, int] = {
    Bucket.records_read: 600,
    Bucket.records_write: 200,
    Bucket.workflows_read: 400,
    Bucket.workflows_write: 40,
    Bucket.webhooks: 600,
    Bucket.other: 800,
}

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _first_segment(path: str) -> str:
    path = path.split("?", 1)[0]
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    return path.strip("/").split("/", 1)[0]


def bucket_for(method: str, path: str) -> Bucket | None:
    """The rate-limit bucket of a call; None for the token endpoint, which is not rate limited.

    `path` is relative to the API base (`/records/{id}`) or absolute (`/public/api/v1/records`).
    """
    method = method.upper()
    bare = path.split("?", 1)[0].rstrip("/")
    if bare == TOKEN_PATH or bare.startswith("/oauth/"):
        return None
    segment = _first_segment(path)
    if segment == "records":
        return Bucket.records_write if method in _WRITE_METHODS else Bucket.records_read
    if segment == "workflows":
        return Bucket.workflows_read if method in ("GET", "HEAD") else Bucket.workflows_write
    if segment == "webhooks":
        return Bucket.webhooks
    return Bucket.other


@runtime_checkable
class RateLimiter(Protocol):
    async def acquire(self, tenant: str, bucket: Bucket) -> float:
        """Wait for a slot in `bucket` of `tenant`; return the seconds waited."""
        ...


class NoRateLimiter:
    async def acquire(self, tenant: str, bucket: Bucket) -> float:
        return 0.0


def gcra_interval(limit_per_minute: int, headroom: float) -> float:
    if limit_per_minute <= 0:
        raise ValueError("limit must be positive")
    if not 0 < headroom <= 1:
        raise ValueError("headroom must be in (0, 1]")
    return 60.0 / (limit_per_minute * headroom)


def gcra_wait(new_tat: float, interval: float, now: float, burst_seconds: float) -> float:
    """Seconds to sleep for the slot reserved by an update that produced `new_tat`."""
    slot = new_tat - interval
    return max(0.0, slot - burst_seconds - now)


def gcra_pipeline(now: float, interval: float, ttl_ms: int, slots: int = 1) -> list[dict[str, Any]]:
    """The aggregation-pipeline update that reserves `slots` slots atomically (upsert-safe)."""
    return [
        {
            "$set": {
                "tat": {"$add": [{"$max": [{"$ifNull": ["$tat", now]}, now]}, interval * slots]},
                "interval": interval,
                "expire_at": {"$add": ["$$NOW", ttl_ms]},
            }
        }
    ]


@dataclass
class _LocalSlots:
    """Slots this process reserved and has not handed out yet, for one tenant and bucket."""

    slots: deque[float] = field(default_factory=deque)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    batch: int = 1
    last_refill: float | None = None


class MongoRateLimiter:
    """GCRA limiter shared by every process through one MongoDB collection.

    Documents are `{_id: "{tenant}:{bucket}", tat, interval, expire_at}`; the TTL index on
    `expire_at` (Database.ensure_indexes) drops idle ones. Uses wall-clock time, which replicas share.
    """

    def __init__(
        self,
        collection: Any,
        limits: Mapping[Bucket, int] | None = None,
        *,
        headroom: float = 0.95,
        burst_seconds: float = 1.0,
        batch_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        idle_ttl_seconds: int = 3600,
    ) -> None:
        if burst_seconds < 0:
            raise ValueError("burst_seconds must be >= 0")
        self._collection = collection
        merged = dict(DEFAULT_LIMITS)
        if limits:
            merged.update(limits)
        self._intervals = {bucket: gcra_interval(limit, headroom) for bucket, limit in merged.items()}
        self._burst = burst_seconds
        self._batch_seconds = batch_seconds
        self._clock = clock
        self._sleep = sleep
        self._ttl_ms = idle_ttl_seconds * 1000
        self._local: dict[str, _LocalSlots] = {}

    def interval(self, bucket: Bucket) -> float:
        return self._intervals[bucket]

    async def reserve(self, tenant: str, bucket: Bucket) -> float:
        """Take one slot; return the seconds the caller must wait for it (no sleeping)."""
        key = f"{tenant}:{bucket.value}"
        local = self._local.setdefault(key, _LocalSlots())
        async with local.lock:
            now = self._clock()
            # A slot whose time is more than the burst allowance past was not used in time: drop it.
            while local.slots and local.slots[0] < now - self._burst:
                local.slots.popleft()
            if not local.slots:
                await self._refill(key, bucket, local, now)
            slot = local.slots.popleft()
        return max(0.0, slot - self._burst - self._clock())

    async def _refill(self, key: str, bucket: Bucket, local: _LocalSlots, now: float) -> None:
        from pymongo import ReturnDocument
        from pymongo.errors import DuplicateKeyError

        interval = self._intervals[bucket]
        most = max(1, int(self._batch_seconds / interval))
        busy = local.last_refill is not None and now - local.last_refill < max(1.0, self._batch_seconds)
        local.batch = min(most, local.batch * 2) if busy else 1
        local.last_refill = now
        doc: Any = None
        for attempt in range(3):
            try:
                doc = await self._collection.find_one_and_update(
                    {"_id": key},
                    gcra_pipeline(now, interval, self._ttl_ms, local.batch),
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                break
            except DuplicateKeyError:
                # Two first-ever upserts raced; the document exists now, so the update will match.
                if attempt == 2:
                    raise
        new_tat = float(doc["tat"]) if doc else now + interval * local.batch
        first = new_tat - interval * local.batch
        local.slots.extend(first + i * interval for i in range(local.batch))

    async def acquire(self, tenant: str, bucket: Bucket) -> float:
        wait = await self.reserve(tenant, bucket)
        if wait > 0:
            if wait > 5:
                log.info("ironclad.rate_limit.pacing", tenant=tenant, bucket=bucket.value, wait_seconds=wait)
            await self._sleep(wait)
        return wait
