"""Periodic work: a reconciliation per connected tenant on its interval.

Every importer replica runs the loop; a lease per tenant makes sure one of them starts each cycle.
While Ironclad has disabled or deleted a tenant's webhook, the shorter interval applies.
"""

from __future__ import annotations

import structlog

from contracts_common.commands import start_reconcile
from contracts_common.messaging import Broker
from contracts_common.runtime import every
from contracts_common.settings import ImporterSettings
from contracts_common.storage.connections import Connections
from contracts_common.storage.database import Database, Document
from contracts_common.storage.leases import Leases

log = structlog.get_logger(__name__)

TICK_SECONDS = 5.0


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
        leases: Leases,
        settings: ImporterSettings,
    ) -> None:
        self._db = db
        self._broker = broker
        self._connections = connections
        self._leases = leases
        self._settings = settings

    async def run_forever(self) -> None:
        await every(TICK_SECONDS, self.tick, "reconcile_scheduler")

    async def tick(self) -> None:
        for connection in await self._connections.connected_tenants():
            tenant = connection["tenant"]
            interval = reconcile_interval(connection, self._settings)
            # Whoever takes the lease for this interval starts the cycle; the others skip it.
            if await self._leases.acquire(tenant, "reconcile-schedule", interval):
                run, started = await start_reconcile(self._db, self._broker, tenant)
                log.info("scheduled_reconcile", tenant=tenant, run_id=run["_id"], started=started)
