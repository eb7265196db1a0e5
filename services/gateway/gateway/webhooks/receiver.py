"""Ironclad's webhook deliveries: `POST /webhooks/ironclad/{tenant}` (no admin token; Ironclad signs them).

The answer follows R1-R3 of reliability.md:
- 410 when the tenant is disconnected or has Automatic Sync off (Ironclad then disables the webhook);
- 401 when `X-Ironclad-Webhook-Verification` is missing or does not match (nothing is published);
- 200 for an event id already handed off (dedupe rows live `webhook_dedupe_days`, at least 3 days);
- 200 only after the broker confirmed the `WebhookEvent`; 503 when it cannot, so Ironclad retries.

A dedupe row is claimed before publishing and released if the publish fails, so a retry is processed; a
concurrent duplicate waits briefly for the first delivery's outcome instead of publishing twice.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import web
from pymongo.errors import DuplicateKeyError, PyMongoError

from contracts_common.ironclad import IroncladError, OAuthError
from contracts_common.messages import WebhookEvent
from contracts_common.messaging import BrokerUnavailable
from contracts_common.metrics import WEBHOOKS
from contracts_common.storage.connections import ConnectionStatus
from contracts_common.storage.database import Document
from contracts_common.timeutil import utcnow
from gateway.deps import GatewayDeps, deps
from gateway.errors import error_response
from gateway.webhooks.verification import KeyCache, VerificationError, parse_header

log = structlog.get_logger(__name__)
routes = web.RouteTableDef()

TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
EVENT_ID_HEADER = "X-Ironclad-Webhook-Event-Id"
VERIFICATION_HEADER = "X-Ironclad-Webhook-Verification"
# How long a publish may wait for the broker's confirm before we answer 503 (Ironclad retries).
PUBLISH_TIMEOUT_SECONDS = 3.0
# A claimed-but-unfinished dedupe row older than this belongs to a handler that died: take it over.
CLAIM_SECONDS = 30.0
# How long a concurrent duplicate waits for the first delivery's outcome.
DUPLICATE_WAIT_SECONDS = 0.5

HANDED_OFF = "handed_off"
CLAIMED = "claimed"


class WebhookReceiver:
    """Per-app state of the receiver: the verification keys."""

    def __init__(self, keys: KeyCache | None = None) -> None:
        self.keys = keys or KeyCache()


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


@routes.post("/webhooks/ironclad/{tenant}")
async def receive(request: web.Request) -> web.Response:
    d = deps(request)
    tenant = request.match_info["tenant"]
    WEBHOOKS.labels(outcome="received").inc()
    if not TENANT.fullmatch(tenant):
        return _reject(404, "UNKNOWN_TENANT", "No such workspace.", "rejected")
    body = await _read_body(request, d.settings.webhook_max_body_bytes)
    if body is None:
        return _reject(413, "BODY_TOO_LARGE", "The delivery body is too large.", "rejected")

    connection = await d.connections.get(tenant)
    if not _sync_on(connection):
        # Ironclad disables a webhook answered with 410: the tenant is gone or Automatic Sync is off.
        log.info("webhook_gone", tenant=tenant)
        return _reject(410, "AUTOMATIC_SYNC_OFF", "Automatic Sync is off for this workspace.", "gone")
    assert connection is not None

    event_id = request.headers.get(EVENT_ID_HEADER, "")
    if not EVENT_ID.fullmatch(event_id):
        return _reject(401, "INVALID_SIGNATURE", f"A valid {EVENT_ID_HEADER} header is required.", "rejected")
    try:
        header = parse_header(request.headers.get(VERIFICATION_HEADER))
    except VerificationError as exc:
        log.info("webhook_rejected", tenant=tenant, reason=str(exc))
        return _reject(401, "INVALID_SIGNATURE", f"The webhook signature is invalid: {exc}.", "rejected")

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
    return await hand_off(d, message)


async def hand_off(d: GatewayDeps, message: WebhookEvent) -> web.Response:
    """Dedupe by event id, publish with a confirm, remember the hand-off."""
    rows = d.db.webhook_events
    key = {"tenant": message.tenant, "event_id": message.event_id}
    now = utcnow()
    row = {
        **key,
        "event": message.event,
        "state": CLAIMED,
        "claimed_at": now,
        "received_at": now,
        "expires_at": now + timedelta(days=d.settings.webhook_dedupe_days),
    }
    try:
        try:
            await rows.insert_one(row)
        except DuplicateKeyError:
            claimed = await _settle_duplicate(d, key, row)
            if claimed is not None:
                return claimed
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
        # Release the claim, so that Ironclad's retry is processed once the broker is back.
        await _release(d, key, row["claimed_at"])
        log.warning(
            "webhook_hand_off_failed", tenant=message.tenant, event_id=message.event_id, error=str(exc)
        )
        return _reject(
            503, "BROKER_UNAVAILABLE", "The event could not be handed off; retry later.", "rejected"
        )
    try:
        await rows.update_one(
            {**key, "claimed_at": row["claimed_at"]},
            {"$set": {"state": HANDED_OFF, "handed_off_at": utcnow()}},
        )
    except PyMongoError as exc:
        # Published and confirmed: answer 200. A retry would at worst publish once more (consumers are
        # idempotent), which is better than making Ironclad retry a delivery we already hold.
        log.warning("webhook_dedupe_update_failed", error=repr(exc))
    WEBHOOKS.labels(outcome="handed_off").inc()
    log.info("webhook_handed_off", tenant=message.tenant, event_id=message.event_id, event_type=message.event)
    return web.json_response({"status": "accepted", "event_id": message.event_id})


async def _release(d: GatewayDeps, key: dict[str, Any], claimed_at: Any) -> None:
    try:
        await d.db.webhook_events.delete_one({**key, "state": CLAIMED, "claimed_at": claimed_at})
    except PyMongoError as exc:
        log.warning("webhook_claim_release_failed", error=repr(exc))


async def _settle_duplicate(d: GatewayDeps, key: dict[str, Any], row: Document) -> web.Response | None:
    """An event id seen before: 200 if handed off; wait for an in-flight one; take over a dead claim.

    Returns None when this delivery now holds the claim and must publish.
    """
    rows = d.db.webhook_events
    deadline = asyncio.get_running_loop().time() + DUPLICATE_WAIT_SECONDS
    while True:
        existing = await rows.find_one(key)
        if existing is None:
            # Released meanwhile (its publish failed): claim it afresh.
            try:
                await rows.insert_one(row)
                return None
            except DuplicateKeyError:
                continue
        if existing.get("state") == HANDED_OFF:
            WEBHOOKS.labels(outcome="deduplicated").inc()
            log.info("webhook_duplicate", tenant=key["tenant"], event_id=key["event_id"])
            return web.json_response({"status": "duplicate", "event_id": key["event_id"]})
        claimed_at = existing.get("claimed_at")
        if claimed_at is not None and (row["claimed_at"] - claimed_at).total_seconds() > CLAIM_SECONDS:
            taken = await rows.update_one(
                {**key, "state": CLAIMED, "claimed_at": claimed_at},
                {"$set": {"claimed_at": row["claimed_at"]}},
            )
            if taken.modified_count == 1:
                return None
            continue
        if asyncio.get_running_loop().time() >= deadline:
            return error_response(
                503,
                "DELIVERY_IN_PROGRESS",
                "This event is being handed off by another delivery; retry later.",
            )
        await asyncio.sleep(0.02)


_ERROR = {"$ref": "#/components/schemas/Error"}

WEBHOOK_OPENAPI_PATHS: dict[str, Any] = {
    "/webhooks/ironclad/{tenant}": {
        "post": {
            "tags": ["Automatic Sync"],
            "summary": "Receive an Ironclad webhook delivery",
            "description": (
                "Called by Ironclad, not by admins: no admin token. Verified with Ironclad's RSA signature "
                "(`X-Ironclad-Webhook-Verification` over event id + body + nonce, key from "
                "`GET /webhooks/verification-key`, fetched again once when a check fails). Deduplicated by "
                "`X-Ironclad-Webhook-Event-Id` for at least 3 days. Answers 200 only after the broker "
                "confirmed the hand-off; 503 when it cannot, so Ironclad retries."
            ),
            "security": [],
            "parameters": [
                {
                    "name": "tenant",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"},
                },
                {"name": EVENT_ID_HEADER, "in": "header", "required": True, "schema": {"type": "string"}},
                {
                    "name": VERIFICATION_HEADER,
                    "in": "header",
                    "required": True,
                    "description": "JSON `{nonce, signAlgorithm, signature, encoding}`",
                    "schema": {"type": "string"},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["payload"],
                            "properties": {
                                "companyID": {"type": "string"},
                                "webhookID": {"type": "string"},
                                "timestamp": {"type": "string", "format": "date-time"},
                                "payload": {
                                    "type": "object",
                                    "required": ["event"],
                                    "properties": {"event": {"type": "string"}},
                                    "additionalProperties": True,
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Handed off (or a duplicate of an event already handed off)",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "status": {"type": "string", "enum": ["accepted", "duplicate"]},
                                    "event_id": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "400": {
                    "description": "Not an Ironclad webhook envelope",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "401": {
                    "description": "Missing or invalid signature",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "404": {
                    "description": "Invalid tenant id",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "410": {
                    "description": "Disconnected or Automatic Sync off: Ironclad stops delivering",
                    "content": {"application/json": {"schema": _ERROR}},
                },
                "413": {"description": "Body too large", "content": {"application/json": {"schema": _ERROR}}},
                "503": {
                    "description": "Could not hand off (broker or key unavailable): Ironclad retries",
                    "content": {"application/json": {"schema": _ERROR}},
                },
            },
        }
    }
}
