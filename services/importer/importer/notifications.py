"""Delivering notifications: one signed POST per attempt, retried through RabbitMQ for at least a day.

Why the importer: it already calls out to the internet (Ironclad) with its own lanes and timeouts, runs
as many replicas as the load needs, and holds SECRETS_KEY to decrypt the tenant's secret. The gateway
answers admins and must not wait on anyone's endpoint.

An attempt (see `NotificationDelivery.handle`):
- the tenant's endpoint (or NOTIFICATIONS_DEFAULT_URL) is read at delivery, so a change or a disable
  applies to what is still queued; an event the endpoint did not choose is dropped;
- the target is checked again (DNS may have changed since it was set) and the connection itself goes
  through a resolver that refuses non-public addresses, so a rebinding between check and connect fails;
- signed with `standardwebhooks` (webhook-id stays the notification's id on every attempt, the timestamp
  is the attempt's), no redirect followed, a short timeout; 2xx is delivered;
- a failure is recorded with the next retry time and the message is published, attempt + 1, to the retry
  queue of its delay (NOTIFICATION_RETRY_DELAYS_SECONDS, the last repeating, +-20 % jitter), from where the
  broker returns it once it expires: the wait survives any restart. Only then is the message acked.
- a notification older than NOTIFICATION_GIVE_UP_SECONDS is given up (`failed`); an endpoint that has not
  succeeded for NOTIFICATION_DISABLE_AFTER_SECONDS is switched off, with an audit entry.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import ip_address

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from standardwebhooks import Webhook

from contracts_common.messages import Notification
from contracts_common.messaging import Broker, Delivery
from contracts_common.notifications import ALL_EVENTS
from contracts_common.notifications.targets import TargetRefused, check_target, refused_address
from contracts_common.settings import ImporterSettings
from contracts_common.storage.audit import AuditAction, AuditActor, AuditLog
from contracts_common.storage.notifications import (
    DeliveryAttempt,
    DeliveryStatus,
    NotificationDeliveries,
    NotificationEndpoints,
)
from contracts_common.timeutil import iso, utcnow

log = structlog.get_logger(__name__)

JITTER = 0.2
SYSTEM = AuditActor(kind="system")
MAX_ERROR_CHARS = 500


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default and refuses any non-public address, at connect time."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            why = refused_address(ip_address(result["host"].split("%")[0]))
            if why is not None:
                raise OSError(f"refused: {host} resolves to {result['host']}, {why}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def delivery_session(settings: ImporterSettings) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        resolver=None if settings.notifications_allow_private_targets else PublicOnlyResolver(),
        use_dns_cache=False,
        limit=100,
    )
    timeout = aiohttp.ClientTimeout(total=settings.notification_timeout_seconds)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


@dataclass(frozen=True)
class Target:
    url: str
    secret: str
    events: frozenset[str]
    # The tenant's own endpoint (tracked, and disabled when it keeps failing) or the operator's default.
    own: bool


def signed_request(secret: str, message: Notification, now: datetime) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "type": message.type,
            "tenant": message.tenant,
            "timestamp": iso(message.occurred_at),
            "data": message.data,
        },
        separators=(",", ":"),
    ).encode()
    signature = Webhook(secret).sign(message.notification_id, now, body)
    headers = {
        "content-type": "application/json",
        "webhook-id": message.notification_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "user-agent": "contracts-ai-ironclad-notifications/1",
    }
    return body, headers


class NotificationDelivery:
    def __init__(
        self,
        *,
        broker: Broker,
        endpoints: NotificationEndpoints,
        deliveries: NotificationDeliveries,
        audit: AuditLog,
        session: aiohttp.ClientSession,
        settings: ImporterSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._broker = broker
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._audit = audit
        self._session = session
        self._settings = settings
        self._clock = clock
        self._delays = settings.notification_retry_delays_seconds

    async def handle(self, message: Notification, delivery: Delivery) -> None:
        with structlog.contextvars.bound_contextvars(
            tenant=message.tenant, notification_id=message.notification_id, event_type=message.type
        ):
            target = await self._target(message.tenant)
            now = self._clock()
            if target is None or message.type not in target.events:
                log.info("notification_not_wanted", configured=target is not None, attempt=message.attempt)
                if message.attempt > 1:
                    # Its earlier attempt is listed as pending: say why no retry came.
                    await self._deliveries.record(
                        DeliveryAttempt(
                            tenant=message.tenant,
                            notification_id=message.notification_id,
                            type=message.type,
                            attempt=message.attempt,
                            at=now,
                            url=target.url if target is not None else "",
                            status="failed",
                            error="not attempted: the endpoint was disabled or no longer wants this event",
                        )
                    )
                return
            started = time.monotonic()
            status_code, error = await self._post(target, message, now)
            duration_ms = round((time.monotonic() - started) * 1000, 1)
            attempt = DeliveryAttempt(
                tenant=message.tenant,
                notification_id=message.notification_id,
                type=message.type,
                attempt=message.attempt,
                at=now,
                url=target.url,
                status="delivered",
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
            if error is None:
                await self._deliveries.record(attempt)
                if target.own:
                    await self._endpoints.delivered(message.tenant, now)
                log.info("notification_delivered", attempt=message.attempt, duration_ms=duration_ms)
                return
            await self._failed(message, target, attempt, now)

    async def _target(self, tenant: str) -> Target | None:
        endpoint = await self._endpoints.get(tenant)
        if endpoint is not None:
            if not endpoint.enabled:
                return None
            return Target(endpoint.url, self._endpoints.secret(endpoint), frozenset(endpoint.events), True)
        settings = self._settings
        if settings.notifications_default_url and settings.notifications_default_secret is not None:
            return Target(
                settings.notifications_default_url,
                settings.notifications_default_secret.get_secret_value(),
                frozenset(ALL_EVENTS),
                False,
            )
        return None

    async def _post(
        self, target: Target, message: Notification, now: datetime
    ) -> tuple[int | None, str | None]:
        """(status code, error); error None means delivered."""
        allow_private = self._settings.notifications_allow_private_targets
        try:
            await check_target(target.url, allow_private=allow_private)
        except TargetRefused as exc:
            return None, f"target refused: {exc}"
        body, headers = signed_request(target.secret, message, now)
        try:
            async with self._session.post(
                target.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return response.status, None
                if 300 <= response.status < 400:
                    return response.status, f"HTTP {response.status}: redirects are not followed"
                return response.status, f"HTTP {response.status}"
        except TimeoutError:
            return None, f"no answer within {self._settings.notification_timeout_seconds:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]

    async def _failed(
        self, message: Notification, target: Target, attempt: DeliveryAttempt, now: datetime
    ) -> None:
        settings = self._settings
        disabled = False
        if target.own:
            endpoint = await self._endpoints.failed(message.tenant, now)
            failing_since = endpoint.failing_since if endpoint is not None else None
            limit = timedelta(seconds=settings.notification_disable_after_seconds)
            if failing_since is not None and now - failing_since >= limit:
                disabled = await self._disable(message.tenant, failing_since, now, attempt.error or "")
        too_old = now - message.occurred_at >= timedelta(seconds=settings.notification_give_up_seconds)
        if disabled or too_old:
            status: DeliveryStatus = "failed"
            await self._deliveries.record(attempt.model_copy(update={"status": status}))
            log.warning(
                "notification_given_up", attempt=message.attempt, error=attempt.error, disabled=disabled
            )
            return
        # Attempt n waits the n-th delay; past the list, the last one again.
        base = self._delays[min(message.attempt, len(self._delays)) - 1]
        delay = base * random.uniform(1 - JITTER, 1 + JITTER)
        next_retry_at = now + timedelta(seconds=delay)
        pending = attempt.model_copy(update={"status": "pending", "next_retry_at": next_retry_at})
        # Recorded before the publish: if the publish fails, the redelivered message writes this row again.
        await self._deliveries.record(pending)
        await self._broker.publish_delayed(
            message.model_copy(update={"attempt": message.attempt + 1}),
            self._broker.topology.notification_retry_queue(base),
            expiration_seconds=delay,
        )
        log.warning(
            "notification_attempt_failed",
            attempt=message.attempt,
            error=attempt.error,
            retry_in=round(delay, 1),
        )

    async def _disable(self, tenant: str, failing_since: datetime, now: datetime, error: str) -> bool:
        reason = f"every delivery failed since {iso(failing_since)}; last error: {error}"[:MAX_ERROR_CHARS]
        limit = timedelta(seconds=self._settings.notification_disable_after_seconds)
        if not await self._endpoints.disable_if_failing(tenant, failing_before=now - limit, reason=reason):
            return False
        log.error("notification_endpoint_disabled", reason=reason)
        await self._audit.record(
            tenant,
            SYSTEM,
            AuditAction.NOTIFICATIONS_DISABLED,
            {"reason": reason, "failing_since": iso(failing_since)},
        )
        return True
