"""The gateway's composition root."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from contracts_common.crypto import SecretBox
from contracts_common.health_status import OnHealthChange
from contracts_common.ironclad import RetryPolicy, TokenCache
from contracts_common.ironclad_access import IroncladAccess, build_rate_limiter
from contracts_common.messaging import Broker, Topology
from contracts_common.notifications import Notifier
from contracts_common.runtime import instance_name
from contracts_common.settings import GatewaySettings
from contracts_common.storage.connections import Connections
from contracts_common.storage.database import Database
from gateway.app import create_app
from gateway.deps import GatewayDeps


async def build(
    settings: GatewaySettings, *, on_health_change: OnHealthChange | None = None
) -> tuple[web.Application, GatewayDeps]:
    db = Database.connect(settings.mongodb_url, settings.mongodb_database, service="gateway")
    await db.ensure_indexes()
    broker = Broker(
        settings.amqp_url,
        Topology(settings.queue_prefix, settings.delivery_limit, settings.queue_replicas),
        prefetch=settings.prefetch_count,
        name=instance_name("gateway"),
    )
    await broker.connect()
    box = SecretBox(settings.secrets_key.get_secret_value())
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60, sock_connect=10))
    access = IroncladAccess(
        session=session,
        connections=Connections(db, box),
        settings=settings,
        token_cache=TokenCache(),
        rate_limiter=build_rate_limiter(db, settings),
        # The admin waits on these calls: retry little.
        retry=RetryPolicy(max_retries=2, base_seconds=0.3, max_seconds=2.0),
    )
    d = GatewayDeps(
        settings=settings,
        db=db,
        broker=broker,
        box=box,
        access=access,
        on_health_change=on_health_change or Notifier(broker).health_changed,
    )
    app = create_app(d)

    async def close(_: web.Application) -> None:
        await session.close()
        await broker.close()
        await db.close()

    app.on_cleanup.append(close)
    return app, d
