"""Ironclad's webhook deliveries: `POST /webhooks/ironclad/{tenant}` (no admin token; Ironclad signs them).

The answer follows R1-R3 of reliability.md:
- 410 when the tenant is disconnected or has Automatic Sync off (Ironclad then disables the webhook);
- 401 when `X-Ironclad-Webhook-Verification` is missing or does not match (nothing is published);
- 200 for an event id already handed off (dedupe rows live `webhook_dedupe_days`, at least 3 days);
- 200 only after the broker confirmed the `WebhookEvent`; 503 when it cannot, so Ironclad retries.

A new delivery costs one read (is the event id known?) and, after the confirmed publish, one insert,
each shared with the deliveries arriving at the same moment (see HandedOffEvents); the tenant's connection
comes from a short cache (see ConnectionCache). Two deliveries of one event that
arrive at the same moment may both be handed off, which the importer's idempotent work absorbs; one
that arrives after the first was recorded is answered 200 without publishing.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web
from pymongo.errors import PyMongoError

from contracts_common.grouped import GroupedCalls
from contracts_common.ironclad import IroncladError, OAuthError
from contracts_common.messages import WebhookEvent
from contracts_common.messaging import BrokerUnavailable
from contracts_common.metrics import WEBHOOKS
from contracts_common.storage.connections import ConnectionStatus
from contracts_common.storage.database import Document
from contracts_common.timeutil import utcnow
from gateway.auth import TENANT_PATTERN, Access
from gateway.deps import GatewayDeps, deps
from gateway.errors import error_response
from gateway.models import DeliveryAnswer, WebhookEnvelope
from gateway.openapi import Api, Header, respond
from gateway.webhooks.verification import KeyCache, VerificationError, parse_header

log = structlog.get_logger(__name__)
api = Api("Automatic Sync")

EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
EVENT_ID_HEADER = "X-Ironclad-Webhook-Event-Id"
VERIFICATION_HEADER = "X-Ironclad-Webhook-Verification"
# How long a publish may wait for the broker's confirm before we answer 503 (Ironclad retries).
PUBLISH_TIMEOUT_SECONDS = 3.0
# A tenant's connection with Automatic Sync on is reused for this long by the receiver.
CONNECTION_CACHE_SECONDS = 2.0


class ConnectionCache:
    """Connections with Automatic Sync on, kept for a moment so a burst reads each tenant's once.

    Only "on" is cached: a tenant that has just switched sync on is never answered 410 from the
    cache. A cached "on" outliving a switch-off by up to CONNECTION_CACHE_SECONDS only hands off an
    event the importer then drops (it checks the connection itself). A reconnect changes the
    connection's generation, which the verification-key cache keys on, within the same bound.
    """

    def __init__(self, ttl_seconds: float = CONNECTION_CACHE_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, Document]] = {}

    async def get(self, tenant: str, load: Callable[[str], Awaitable[Document | None]]) -> Document | None:
        now = time.monotonic()
        entry = self._entries.get(tenant)
        if entry is not None and now - entry[0] < self._ttl:
            return entry[1]
        connection = await load(tenant)
        if _sync_on(connection):
            assert connection is not None
            self._entries[tenant] = (now, connection)
        else:
            self._entries.pop(tenant, None)
        return connection

    def forget(self, tenant: str) -> None:
        """This gateway changed the tenant's connection (disconnect, sync off): read it afresh."""
        self._entries.pop(tenant, None)


class WebhookReceiver:
    """Per-app state of the receiver: the verification keys and the connection cache."""

    def __init__(self, keys: KeyCache | None = None) -> None:
        self.keys = keys or KeyCache()
        self.connections = ConnectionCache()
        # Deliveries being handed off by this gateway, by (tenant, event id): duplicates wait on them.
        self.in_flight: InFlight = {}
        self._rows: HandedOffEvents | None = None

    def rows(self, d: GatewayDeps) -> HandedOffEvents:
        if self._rows is None:
            self._rows = HandedOffEvents(d.db.webhook_deliveries, d.settings.webhook_dedupe_days)
        return self._rows


_RECEIVERS: weakref.WeakKeyDictionary[web.Application, WebhookReceiver] = weakref.WeakKeyDictionary()


def receiver_of(app: web.Application) -> WebhookReceiver:
    found = _RECEIVERS.get(app)
    if found is None:
        found = _RECEIVERS[app] = WebhookReceiver()
    return found


def _reject(status: int, code: str, message: str, outcome: str) -> web.Response:
    WEBHOOKS.labels(outcome=outcome).inc()
    return error_response(status, code, message)


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it exceeds `limit` (checked before and while reading)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _sync_on(connection: Document | None) -> bool:
    if connection is None or connection.get("status") != ConnectionStatus.CONNECTED.value:
        return False
    return bool((connection.get("automatic_sync") or {}).get("enabled"))


@api.post(
    "/webhooks/ironclad/{tenant}",
    DeliveryAnswer,
    body=WebhookEnvelope,
    errors=(400, 401, 404, 410, 413, 503),
    access=Access.PUBLIC,
    headers=(
        Header(EVENT_ID_HEADER, "the event's id, also signed"),
        Header(VERIFICATION_HEADER, "JSON {nonce, signAlgorithm, signature, encoding}"),
    ),
)
async def receive(request: web.Request) -> web.Response:
    """Receive an Ironclad webhook delivery.

    Called by Ironclad, not by admins: no admin token. Verified with Ironclad's RSA signature
    (X-Ironclad-Webhook-Verification over event id + body + nonce, key from GET
    /webhooks/verification-key, fetched again once when a check fails). Deduplicated by
    X-Ironclad-Webhook-Event-Id for at least 3 days. Answers 200 only after the broker confirmed the
    hand-off; 503 when it cannot, so Ironclad retries; 410 when Automatic Sync is off, so Ironclad
    disables the webhook.
    """
    d = deps(request)
    tenant = request.match_info["tenant"]
    WEBHOOKS.labels(outcome="received").inc()
    if not TENANT_PATTERN.fullmatch(tenant):
        return _reject(404, "UNKNOWN_TENANT", "No such workspace.", "rejected")
    body = await _read_body(request, d.settings.webhook_max_body_bytes)
    if body is None:
        return _reject(413, "BODY_TOO_LARGE", "The delivery body is too large.", "rejected")

    # Unsigned or malformed signature headers: 401 whatever the workspace's state (only a delivery that
    # could be Ironclad's learns that Automatic Sync is off).
    event_id = request.headers.get(EVENT_ID_HEADER, "")
    if not EVENT_ID.fullmatch(event_id):
        return _reject(401, "INVALID_SIGNATURE", f"A valid {EVENT_ID_HEADER} header is required.", "rejected")
    try:
        header = parse_header(request.headers.get(VERIFICATION_HEADER))
    except VerificationError as exc:
        log.info("webhook_rejected", tenant=tenant, reason=str(exc))
        return _reject(401, "INVALID_SIGNATURE", f"The webhook signature is invalid: {exc}.", "rejected")

    cache = receiver_of(request.app).connections
    connection = await cache.get(tenant, d.connections.get)
    if not _sync_on(connection):
        # Ironclad disables a webhook answered with 410: the tenant is gone or Automatic Sync is off.
        log.info("webhook_gone", tenant=tenant)
        return _reject(410, "AUTOMATIC_SYNC_OFF", "Automatic Sync is off for this workspace.", "gone")
    assert connection is not None

    async def fetch_key() -> str:
        client = d.access.client_for(tenant, d.connections.credentials(connection))
        return await client.get_verification_key()

    keys = receiver_of(request.app).keys
    try:
        valid = await keys.check(tenant, event_id, body, header, fetch_key, connection.get("generation"))
    except (IroncladError, OAuthError, VerificationError) as exc:
        log.warning("webhook_key_unavailable", tenant=tenant, error=str(exc))
        return error_response(
            503, "VERIFICATION_KEY_UNAVAILABLE", "The verification key could not be fetched; retry later."
        )
    if not valid:
        log.info("webhook_rejected", tenant=tenant, event_id=event_id, reason="signature mismatch")
        return _reject(401, "INVALID_SIGNATURE", "The webhook signature does not match.", "rejected")
    WEBHOOKS.labels(outcome="verified").inc()

    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        envelope = None
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    event = payload.get("event") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or not isinstance(event, str) or not event:
        return _reject(
            400, "INVALID_DELIVERY", "The delivery is not an Ironclad webhook envelope.", "rejected"
        )
    assert isinstance(envelope, dict)

    message = WebhookEvent(
        tenant=tenant,
        event_id=event_id,
        event=event,
        payload={
            **payload,
            "_envelope": {k: envelope.get(k) for k in ("companyID", "webhookID", "timestamp")},
        },
        received_at=utcnow(),
    )
    return await hand_off(d, message, receiver_of(request.app))


async def hand_off(d: GatewayDeps, message: WebhookEvent, receiver: WebhookReceiver) -> web.Response:
    """Dedupe by event id, publish with a confirm, then record the hand-off in one insert.

    Publishing before recording means a delivery can only ever be handed off twice, never lost: if the
    insert fails after a confirmed publish, Ironclad's retry publishes once more, and the importer's
    work is idempotent. A duplicate arriving after the insert is answered from the row, unpublished;
    one arriving at this gateway while the first is being handed off waits for its outcome.
    """
    in_flight = receiver.in_flight
    key_tuple = (message.tenant, message.event_id)
    first = in_flight.get(key_tuple)
    # If the first delivery failed, this one tries afresh below.
    if first is not None and await asyncio.shield(first):
        WEBHOOKS.labels(outcome="deduplicated").inc()
        return respond(DeliveryAnswer, {"status": "duplicate", "event_id": message.event_id})
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    in_flight[key_tuple] = outcome
    try:
        response = await _hand_off_once(d, message, receiver.rows(d))
        outcome.set_result(response.status == 200)
        return response
    except BaseException:
        if not outcome.done():
            outcome.set_result(False)
        raise
    finally:
        if in_flight.get(key_tuple) is outcome:
            del in_flight[key_tuple]


InFlight = dict[tuple[str, str], "asyncio.Future[bool]"]


class HandedOffEvents:
    """What the receiver remembers of the events it handed off, read and written in groups.

    Under a burst every delivery needs the same two round trips (is the event known? remember it), so
    the deliveries waiting at one moment share them: one `find` per tenant, and one document for the
    whole group (`event_ids`, indexed per element), which costs the database one insert instead of one
    per event. The rows only spare Ironclad's retries a second publish; one piece of work per event id
    is the importer's claim (R3), so two gateways remembering the same event is harmless.
    """

    def __init__(self, rows: Any, remember_days: float) -> None:
        self._rows = rows
        self._remember = timedelta(days=remember_days)
        self.known: GroupedCalls[tuple[str, str], bool] = GroupedCalls(self._known)
        self.remember: GroupedCalls[WebhookEvent, None] = GroupedCalls(self._remember_all)

    async def _known(self, keys: list[tuple[str, str]]) -> list[bool]:
        found: set[tuple[str, str]] = set()
        for tenant, event_ids in _by_tenant(keys).items():
            cursor = self._rows.find(
                {"tenant": tenant, "event_ids": {"$in": event_ids}}, {"_id": 0, "event_ids": 1}
            )
            async for row in cursor:
                found.update((tenant, event_id) for event_id in row["event_ids"])
        return [key in found for key in keys]

    async def _remember_all(self, events: list[WebhookEvent]) -> list[None]:
        now = utcnow()
        by_tenant = _by_tenant([(e.tenant, e.event_id) for e in events])
        await self._rows.insert_many(
            [
                {
                    "tenant": tenant,
                    "event_ids": event_ids,
                    "handed_off_at": now,
                    "expires_at": now + self._remember,
                }
                for tenant, event_ids in by_tenant.items()
            ],
            ordered=False,
        )
        return [None] * len(events)


def _by_tenant(keys: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each tenant's event ids, once each, in arrival order."""
    out: dict[str, dict[str, None]] = {}
    for tenant, event_id in keys:
        out.setdefault(tenant, {})[event_id] = None
    return {tenant: list(ids) for tenant, ids in out.items()}


async def _hand_off_once(d: GatewayDeps, message: WebhookEvent, rows: HandedOffEvents) -> web.Response:
    try:
        if await rows.known.call((message.tenant, message.event_id)):
            WEBHOOKS.labels(outcome="deduplicated").inc()
            log.info("webhook_duplicate", tenant=message.tenant, event_id=message.event_id)
            return respond(DeliveryAnswer, {"status": "duplicate", "event_id": message.event_id})
    except PyMongoError as exc:
        log.warning("webhook_dedupe_unavailable", error=repr(exc))
        return error_response(503, "DATABASE_UNAVAILABLE", "The event could not be recorded; retry later.")
    try:
        if not d.broker.is_ready():
            raise BrokerUnavailable("broker not connected")
        await d.broker.publish(
            message, timeout=PUBLISH_TIMEOUT_SECONDS, headers={"event_id": message.event_id}
        )
    except BrokerUnavailable as exc:
        log.warning(
            "webhook_hand_off_failed", tenant=message.tenant, event_id=message.event_id, error=str(exc)
        )
        return _reject(
            503,
            "BROKER_UNAVAILABLE",
            "The event could not be handed off; retry later.",
            "rejected",
        )
    try:
        await rows.remember.call(message)
    except PyMongoError as exc:
        # Published and confirmed: answer 200. A retry would at worst publish once more.
        log.warning("webhook_dedupe_insert_failed", error=repr(exc))
    WEBHOOKS.labels(outcome="handed_off").inc()
    log.info("webhook_handed_off", tenant=message.tenant, event_id=message.event_id, event_type=message.event)
    return respond(DeliveryAnswer, {"status": "accepted", "event_id": message.event_id})
