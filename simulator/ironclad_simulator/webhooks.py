"""Webhook management rules and the signed delivery engine with Ironclad's retry / disable behaviour."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import string
import uuid
from typing import Any
from urllib.parse import urlparse

import aiohttp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ironclad_simulator.errors import invalid
from ironclad_simulator.schema import WEBHOOK_EVENTS
from ironclad_simulator.state import Company, SimulatorState, Webhook

DISABLE_MIN_FAILURES = 100
DISABLE_MIN_SPAN_SECONDS = 10 * 24 * 3600
NONCE_ALPHABET = string.ascii_letters + string.digits


def validate_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise invalid("events must be a non-empty array of event types", "events")
    for ev in events:
        if ev not in WEBHOOK_EVENTS:
            raise invalid(
                f"invalid event type; {', '.join(WEBHOOK_EVENTS)} are acceptable event types", "events"
            )
    return list(dict.fromkeys(events))


def validate_target(state: SimulatorState, target: Any) -> str:
    if not isinstance(target, str) or not target:
        raise invalid("targetURL must be a valid URL", "targetURL")
    parsed = urlparse(target)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise invalid("targetURL must be a valid URL", "targetURL")
    if parsed.scheme != "https" and not state.config.allow_http_targets:
        raise invalid("targetURL must use https", "targetURL")
    return target


def check_duplicate(company: Company, target: str, events: list[str], exclude: str | None = None) -> None:
    for hook in company.webhooks.values():
        if hook.id != exclude and hook.target_url == target and hook.status == "enabled":
            overlap = [e for e in events if e in hook.events] or events
            # `tagetURL` (sic) is how SPEC's example spells the param.
            raise invalid(f"webhook already exists for event {overlap[0]} and target {target}", "tagetURL")


def sign(company: Company, event_id: str, body: bytes, nonce: str) -> str:
    signature = company.private_key.sign(
        event_id.encode("utf-8") + body + nonce.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256()
    )
    return base64.b64encode(signature).decode("ascii")


class WebhookDispatcher:
    """Delivers events to webhooks over HTTP; one asyncio task per (event, webhook) delivery."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.session = aiohttp.ClientSession()
        self.state.event_sink = self.dispatch

    async def stop(self) -> None:
        if self.state.event_sink == self.dispatch:
            self.state.event_sink = None
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no delivery is pending (for tests)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)

    def dispatch(self, company: Company, event: str, payload: dict[str, Any]) -> list[str]:
        timestamp = self.state.now_iso()
        event_ids: list[str] = []
        for hook in list(company.webhooks.values()):
            if hook.status != "enabled" or not (event in hook.events or "*" in hook.events):
                continue
            event_id = "webhookEvent" + uuid.uuid4().hex
            envelope = {
                "companyID": company.id,
                "payload": {"event": event, **{k: v for k, v in payload.items() if k != "event"}},
                "timestamp": timestamp,
                "webhookID": hook.id,
            }
            body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            task = asyncio.get_running_loop().create_task(self._deliver(company, hook, event, event_id, body))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            event_ids.append(event_id)
        return event_ids

    async def _deliver(self, company: Company, hook: Webhook, event: str, event_id: str, body: bytes) -> None:
        attempt = 0
        while True:
            if company.webhooks.get(hook.id) is not hook or hook.status != "enabled":
                return
            status, error = await self._attempt(company, hook, event_id, body)
            now = self.state.clock.now()
            company.deliveries.append(
                {
                    "webhook_id": hook.id,
                    "event_id": event_id,
                    "event": event,
                    "attempt": attempt,
                    "status_code": status,
                    "error": error,
                    "time": self.state.now_iso(),
                    "target_url": hook.target_url,
                    "body": body.decode("utf-8"),
                }
            )
            if status is not None and 200 <= status < 300:
                hook.consecutive_failure_count = 0
                hook.first_consecutive_failure = None
                hook.first_failure_ts = None
                return
            if status == 410:
                # The webhooks page says the hook deletes itself; the deactivation page says it is disabled.
                # We disable it (keeps it inspectable); the failure counter is not incremented.
                hook.status = "disabled"
                hook.status_last_updated_at = self.state.now_iso()
                hook.status_last_updated_by = "system"
                return
            self.record_failure(hook, now)
            if hook.status != "enabled":
                return
            if attempt >= self.state.config.webhook_max_retries:
                return
            await asyncio.sleep(self.state.config.webhook_retry_base_seconds * (2**attempt))
            attempt += 1

    def record_failure(self, hook: Webhook, now: float) -> None:
        if hook.consecutive_failure_count == 0 or hook.first_failure_ts is None:
            hook.first_failure_ts = now
            hook.first_consecutive_failure = self.state.now_iso()
        hook.consecutive_failure_count += 1
        if (
            hook.consecutive_failure_count >= DISABLE_MIN_FAILURES
            and now - hook.first_failure_ts >= DISABLE_MIN_SPAN_SECONDS
        ):
            disable_by_system(self.state, hook)

    async def _attempt(
        self, company: Company, hook: Webhook, event_id: str, body: bytes
    ) -> tuple[int | None, str | None]:
        assert self.session is not None
        nonce = "".join(secrets.choice(NONCE_ALPHABET) for _ in range(16))
        verification = json.dumps(
            {
                "nonce": nonce,
                "signAlgorithm": "sha256",
                "signature": sign(company, event_id, body, nonce),
                "encoding": "base64",
            },
            separators=(",", ":"),
        )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Ironclad-Webhooks/1.0 (simulator)",
            "X-Ironclad-Webhook-Event-Id": event_id,
            "X-Ironclad-Webhook-Verification": verification,
        }
        timeout = aiohttp.ClientTimeout(total=self.state.config.webhook_timeout_seconds)
        try:
            async with self.session.post(
                hook.target_url, data=body, headers=headers, timeout=timeout
            ) as resp:
                await resp.read()
                return resp.status, None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"


def disable_by_system(state: SimulatorState, hook: Webhook) -> None:
    hook.status = "disabledBySystem"
    hook.status_last_updated_at = state.now_iso()
    hook.status_last_updated_by = "system"
