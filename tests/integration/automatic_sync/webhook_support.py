"""Helpers of the Automatic Sync tests: signed deliveries as Ironclad makes them, queue depths, metrics."""

from __future__ import annotations

import json
import secrets
import uuid
from typing import Any

import aio_pika
import aiohttp
from prometheus_client import REGISTRY

from contracts_common.messaging import Topology
from ironclad_simulator.webhooks import sign

EVENT_ID_HEADER = "X-Ironclad-Webhook-Event-Id"
VERIFICATION_HEADER = "X-Ironclad-Webhook-Verification"


def envelope(company_id: str, event: str, payload: dict[str, Any], webhook_id: str = "hook") -> bytes:
    body = {
        "companyID": company_id,
        "payload": {"event": event, **payload},
        "timestamp": "2026-01-01T00:00:00.000Z",
        "webhookID": webhook_id,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signed(
    simulator: Any, company_id: str, body: bytes, event_id: str | None = None, nonce: str | None = None
) -> tuple[str, dict[str, str]]:
    """(event_id, headers) signing `body` with the company's current private key."""
    event_id = event_id or "webhookEvent" + uuid.uuid4().hex
    nonce = nonce or secrets.token_hex(8)
    company = simulator.companies[company_id]
    verification = {
        "nonce": nonce,
        "signAlgorithm": "sha256",
        "signature": sign(company, event_id, body, nonce),
        "encoding": "base64",
    }
    headers = {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        VERIFICATION_HEADER: json.dumps(verification, separators=(",", ":")),
    }
    return event_id, headers


async def post(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> int:
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


async def queue_depth(stack: Any, suffix: str = "importer.events") -> int:
    connection = await aio_pika.connect(stack.amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(Topology(stack.prefix, 5).queue(suffix), passive=True)
        count = queue.declaration_result.message_count
        return int(count or 0)


def webhook_metric(outcome: str) -> float:
    value = REGISTRY.get_sample_value("contracts_webhooks_total", {"outcome": outcome})
    return float(value or 0.0)
