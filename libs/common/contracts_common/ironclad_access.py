"""Builds an Ironclad client for a tenant from its stored connection.

One aiohttp session, one token cache and one shared rate limiter per process; each tenant gets its own
cache entry and limiter keys, so nothing crosses tenants.

The importer's Ironclad requests go in two lanes, each with its own slots (`TenantSlots`): `bulk` for
imports and reconciliations, `live` for webhook syncs, incremental passes, webhook checks and
write-backs. A backfill can fill the bulk lane, never the live one, and within each lane no tenant
takes more than its cap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum

import aiohttp

from contracts_common.fairness import TenantSlots
from contracts_common.ironclad import (
    ALL_SCOPES,
    DEFAULT_LIMITS,
    Bucket,
    IroncladClient,
    IroncladCredentials,
    MongoRateLimiter,
    NoRateLimiter,
    RateLimiter,
    RequestEvent,
    RetryPolicy,
    TokenCache,
)
from contracts_common.metrics import (
    IRONCLAD_BACKOFF_SECONDS,
    IRONCLAD_LATENCY,
    IRONCLAD_PACING_SECONDS,
    IRONCLAD_RATE_LIMITED,
    IRONCLAD_REQUESTS,
)
from contracts_common.settings import ImporterSettings, IroncladAccessSettings
from contracts_common.storage.connections import Connections, ConnectionStatus
from contracts_common.storage.database import Database, Document


class Lane(StrEnum):
    """Whose capacity a piece of work uses: a backfill's, or that of changes someone waits for."""

    BULK = "bulk"
    LIVE = "live"


def lane_slots(settings: ImporterSettings) -> dict[Lane, TenantSlots]:
    return {
        Lane.BULK: TenantSlots(
            shared=settings.ironclad_concurrency,
            per_tenant=min(settings.ironclad_tenant_concurrency, settings.ironclad_concurrency),
        ),
        Lane.LIVE: TenantSlots(
            shared=settings.ironclad_live_concurrency,
            per_tenant=min(settings.ironclad_live_tenant_concurrency, settings.ironclad_live_concurrency),
        ),
    }


class NotConnected(Exception):
    """The tenant has no usable Ironclad connection (never connected, disconnected, or needs reauth)."""

    def __init__(self, tenant: str, status: str) -> None:
        super().__init__(f"tenant {tenant} has no usable Ironclad connection (status {status})")
        self.status = status


@dataclass
class RequestTally:
    """Ironclad requests made by one piece of a run's work (a page), added to the run with the write
    that records that work, never with a write per request (R24)."""

    requests: int = 0
    rate_limited: int = 0

    def counters(self) -> dict[str, int]:
        return {"ironclad_requests": self.requests, "ironclad_rate_limited": self.rate_limited}


# A context variable rather than a parameter: requests are made deep in the client, by tasks that copy
# the context (asyncio.gather), and all of them add to the one tally of the work they belong to.
_TALLY: ContextVar[RequestTally | None] = ContextVar("ironclad_tally", default=None)


@contextmanager
def tallied() -> Iterator[RequestTally]:
    """Count the Ironclad requests made inside the block (and by the tasks it starts)."""
    tally = RequestTally()
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def record_request_metrics(event: RequestEvent) -> None:
    if (tally := _TALLY.get()) is not None:
        tally.requests += event.attempts
        tally.rate_limited += event.rate_limited
    IRONCLAD_REQUESTS.labels(endpoint=event.endpoint, status=str(event.status)).inc()
    IRONCLAD_LATENCY.labels(endpoint=event.endpoint).observe(event.duration_seconds)
    if str(event.status) == "429":
        IRONCLAD_RATE_LIMITED.labels(endpoint=event.endpoint).inc()
    if event.backoff_seconds:
        IRONCLAD_BACKOFF_SECONDS.inc(event.backoff_seconds)
    if event.rate_limit_wait_seconds:
        IRONCLAD_PACING_SECONDS.inc(event.rate_limit_wait_seconds)


def build_rate_limiter(db: Database, settings: IroncladAccessSettings) -> RateLimiter:
    if isinstance(settings, ImporterSettings):
        if not settings.rate_limit_enabled:
            return NoRateLimiter()
        limits = {
            **DEFAULT_LIMITS,
            Bucket.records_read: settings.rate_limit_records_read_per_minute,
            Bucket.records_write: settings.rate_limit_records_write_per_minute,
            Bucket.workflows_read: settings.rate_limit_workflows_read_per_minute,
            Bucket.webhooks: settings.rate_limit_webhooks_per_minute,
            Bucket.other: settings.rate_limit_other_per_minute,
        }
        return MongoRateLimiter(db.rate_limits, limits, headroom=settings.rate_limit_headroom)
    return MongoRateLimiter(db.rate_limits, DEFAULT_LIMITS)


@dataclass
class IroncladAccess:
    session: aiohttp.ClientSession
    connections: Connections
    settings: IroncladAccessSettings
    token_cache: TokenCache
    rate_limiter: RateLimiter
    retry: RetryPolicy
    # Per lane; empty (the gateway's control-plane calls): no slots.
    slots: Mapping[Lane, TenantSlots] = field(default_factory=dict)
    on_request: Callable[[RequestEvent], None] | None = record_request_metrics

    def client_for(
        self,
        tenant: str,
        credentials: IroncladCredentials,
        *,
        token_cache: TokenCache | None = None,
        scopes: Sequence[str] | None = None,
        lane: Lane | None = None,
    ) -> IroncladClient:
        return IroncladClient(
            self.session,
            credentials,
            tenant=tenant,
            base_url_override=self.settings.ironclad_base_url,
            token_cache=token_cache or self.token_cache,
            # Ask only for what the app was granted at connect: asking for more is `invalid_scope`.
            scopes=tuple(scopes) if scopes else ALL_SCOPES,
            rate_limiter=self.rate_limiter,
            retry=self.retry,
            concurrency=self.slots.get(lane) if lane is not None else None,
            on_request=self.on_request,
            request_timeout=self.settings.ironclad_timeout_seconds,
        )

    async def client(self, tenant: str, lane: Lane | None = None) -> tuple[IroncladClient, Document]:
        doc = await self.connections.get(tenant)
        client = self.connected_client(tenant, doc, lane)
        assert doc is not None
        return client, doc

    def connected_client(self, tenant: str, doc: Document | None, lane: Lane | None) -> IroncladClient:
        """The client of a connection already read; NotConnected unless it is connected."""
        status = doc.get("status") if doc else ConnectionStatus.DISCONNECTED.value
        if doc is None or status != ConnectionStatus.CONNECTED.value:
            raise NotConnected(tenant, str(status))
        return self.client_for(
            tenant, self.connections.credentials(doc), scopes=doc.get("granted_scopes"), lane=lane
        )
