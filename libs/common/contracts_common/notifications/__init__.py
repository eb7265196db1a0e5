"""Outbound notifications to Contracts AI: what happened in a workspace, signed as Standard Webhooks.

Anyone may announce an event with `Notifier.announce(tenant, event_type, data)`: it publishes a
`Notification` message (publisher confirms) to the notifications queue, and the importer delivers it
(importer/notifications.py) to the tenant's endpoint, retrying through RabbitMQ for at least a day.
Whether the tenant wants that event is decided at delivery, from its settings: announcing is cheap and
needs no read.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from contracts_common.messages import Notification
from contracts_common.messaging.broker import Broker, BrokerUnavailable
from contracts_common.storage.runs import COUNTERS
from contracts_common.timeutil import iso, utcnow

if TYPE_CHECKING:
    from contracts_common.health_status import HealthChange

log = structlog.get_logger(__name__)


class EventType(enum.StrEnum):
    SYNC_SUCCEEDED = "sync.succeeded"
    SYNC_FAILED = "sync.failed"
    CONTRACTS_CHANGED = "contracts.changed"
    CONNECTION_NEEDS_REAUTH = "connection.needs_reauth"
    CONNECTION_WEBHOOK_DISABLED = "connection.webhook_disabled"
    HEALTH_CHANGED = "health.changed"


ALL_EVENTS: tuple[EventType, ...] = tuple(EventType)


class Notifier:
    """The one way to announce an event. `announce` never raises: the work that announces has been done
    and stored, and a broker outage must not undo or repeat it; a notification that could not be
    published after the broker's retries is logged (`notification_not_announced`) and counted."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def announce(self, tenant: str, event_type: EventType, data: dict[str, Any]) -> bool:
        """Queue `event_type` with `data` (JSON-serialisable) for `tenant`; True once the broker has
        confirmed it (from then on it survives restarts)."""
        message = Notification(
            tenant=tenant,
            notification_id=f"msg_{uuid.uuid4().hex}",
            type=event_type.value,
            occurred_at=utcnow(),
            data=data,
        )
        try:
            await self._broker.publish_with_retry(message)
        except BrokerUnavailable as exc:
            log.error("notification_not_announced", tenant=tenant, type=event_type.value, error=str(exc))
            return False
        log.info("notification_announced", type=event_type.value, notification_id=message.notification_id)
        return True

    async def health_changed(self, tenant: str, change: HealthChange) -> bool:
        """health.changed: the composition roots' `on_health_change` (HealthMonitor records each transition
        once, so this is called once per change and once per resolution)."""
        return await self.announce(tenant, EventType.HEALTH_CHANGED, change.public())

    async def run_finished(self, run: Mapping[str, Any]) -> bool:
        """sync.succeeded, or sync.failed for a run that failed or only partly succeeded (the Runs store
        calls this once per run, see `Runs(on_finish=...)`). Every kind is announced, frequent webhook and
        incremental runs too: an endpoint that does not want them leaves sync.* out of its events."""
        succeeded = run["status"] == "succeeded"
        return await self.announce(
            str(run["tenant"]),
            EventType.SYNC_SUCCEEDED if succeeded else EventType.SYNC_FAILED,
            {
                "run_id": str(run["_id"]),
                "kind": run["kind"],
                "status": run["status"],
                "counters": {name: int(run.get(name) or 0) for name in COUNTERS},
                "error": run.get("error"),
                "started_at": iso(run.get("started_at")),
                "finished_at": iso(run.get("finished_at")),
            },
        )
