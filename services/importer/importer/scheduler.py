"""Periodic work per connected tenant: the incremental pass, the full reconciliation, the webhook check.

Every importer replica runs the loop; each task's turn for a tenant is taken by exactly one replica (see
storage/schedules.py), and its next turn is due a whole interval later. The intervals:
- for tenants with Automatic Sync on, the incremental pass (delta.py), every
  `delta_sync_interval_seconds`: changes Ironclad sends no webhook for arrive within about that long;
- the full reconciliation, the only way to see deletions, every `reconcile_interval_seconds`, or the
  shorter `reconcile_interval_degraded_seconds` while Ironclad has disabled or deleted our webhook;
- for tenants with Automatic Sync on, the webhook health check (webhook_health.py), every
  `webhook_health_interval_seconds`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from contracts_common.commands import start_reconcile
from contracts_common.messaging import Broker
from contracts_common.runtime import every
from contracts_common.settings import ImporterSettings
from contracts_common.storage.connections import Connections
from contracts_common.storage.database import Database, Document
from contracts_common.storage.schedules import Schedules
from importer.delta import DeltaSync
from importer.webhook_health import WebhookHealth

log = structlog.get_logger(__name__)

RECONCILE = "reconcile"
DELTA = "delta"
WEBHOOK_HEALTH = "webhook_health"


def reconcile_interval(connection: Document, settings: ImporterSettings) -> float:
    sync = connection.get("automatic_sync") or {}
    degraded = sync.get("enabled") and sync.get("webhook_state") not in (None, "enabled")
    return settings.reconcile_interval_degraded_seconds if degraded else settings.reconcile_interval_seconds


class Scheduler:
    def __init__(
        self,
        *,
        db: Database,
        broker: Broker,
        connections: Connections,
        schedules: Schedules,
        delta: DeltaSync,
        health: WebhookHealth,
        settings: ImporterSettings,
    ) -> None:
        self._db = db
        self._broker = broker
        self._connections = connections
        self._schedules = schedules
        self._delta = delta
        self._health = health
        self._settings = settings

    async def run_forever(self) -> None:
        await every(self._settings.scheduler_tick_seconds, self.tick, "scheduler")

    async def tick(self) -> None:
        for connection in await self._connections.connected_tenants():
            tenant = connection["tenant"]
            with structlog.contextvars.bound_contextvars(tenant=tenant):
                await self._turn(
                    connection, RECONCILE, reconcile_interval(connection, self._settings), self._reconcile
                )
                await self._turn(
                    connection, DELTA, self._settings.delta_sync_interval_seconds, self._delta.run
                )
                if (connection.get("automatic_sync") or {}).get("enabled"):
                    await self._turn(
                        connection,
                        WEBHOOK_HEALTH,
                        self._settings.webhook_health_interval_seconds,
                        self._health.check,
                    )

    async def _turn(
        self, connection: Document, task: str, interval: float, work: Callable[[Document], Awaitable[object]]
    ) -> None:
        if not await self._schedules.claim(connection, task, interval):
            return
        try:
            await work(connection)
        except Exception:
            # This turn is spent; the next comes an interval later. One tenant's failure is not another's.
            log.exception("scheduled_task_failed", task=task)

    async def _reconcile(self, connection: Document) -> None:
        run, started = await start_reconcile(self._db, self._broker, connection["tenant"])
        log.info("scheduled_reconcile", run_id=run["_id"], started=started)
