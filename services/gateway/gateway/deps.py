"""Everything a gateway handler may need, built once in bootstrap and kept on the app."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from contracts_common.crypto import SecretBox
from contracts_common.health_status import HealthMonitor, OnHealthChange, build_monitor
from contracts_common.ironclad_access import IroncladAccess
from contracts_common.messaging import Broker
from contracts_common.services.automatic_sync import AutomaticSyncService
from contracts_common.services.notifications import NotificationService
from contracts_common.settings import GatewaySettings
from contracts_common.storage.changes import Changes
from contracts_common.storage.connections import Connections
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.database import Database
from contracts_common.storage.mappings import Mappings
from contracts_common.storage.notifications import NotificationDeliveries, NotificationEndpoints
from contracts_common.storage.runs import Runs
from contracts_common.storage.schema_cache import SchemaCache
from contracts_common.storage.writebacks import Writebacks


@dataclass
class GatewayDeps:
    settings: GatewaySettings
    db: Database
    broker: Broker
    box: SecretBox
    access: IroncladAccess
    # Told of each change of a tenant's health the gateway causes (connected, disconnected, Automatic
    # Sync on or off, a dead letter replayed or discarded), once: the `health.changed` notification, as
    # the importer's and the mapper's (contracts_common.health_status).
    on_health_change: OnHealthChange | None = field(default=None, kw_only=True)

    @property
    def health(self) -> HealthMonitor:
        return build_monitor(self.db, self.settings, self.on_health_change)

    @property
    def connections(self) -> Connections:
        return self.access.connections

    @property
    def automatic_sync(self) -> AutomaticSyncService:
        return AutomaticSyncService(
            db=self.db,
            access=self.access,
            public_base_url=self.settings.public_base_url,
            allow_http_target=self.settings.allow_http_webhook_target,
        )

    @property
    def notifications(self) -> NotificationService:
        return NotificationService(
            endpoints=NotificationEndpoints(self.db, self.box),
            default_url=self.settings.notifications_default_url,
            allow_private_targets=self.settings.notifications_allow_private_targets,
        )

    @property
    def notification_deliveries(self) -> NotificationDeliveries:
        return NotificationDeliveries(self.db)

    @property
    def runs(self) -> Runs:
        return Runs(self.db)

    @property
    def changes(self) -> Changes:
        return Changes(self.db)

    @property
    def contracts(self) -> Contracts:
        return Contracts(self.db)

    @property
    def mappings(self) -> Mappings:
        return Mappings(self.db)

    @property
    def schemas(self) -> SchemaCache:
        return SchemaCache(self.db)

    @property
    def writebacks(self) -> Writebacks:
        return Writebacks(self.db)


DEPS = web.AppKey("deps", GatewayDeps)


def deps(request: web.Request) -> GatewayDeps:
    return request.app[DEPS]
