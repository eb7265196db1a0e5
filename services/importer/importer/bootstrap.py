"""The importer's composition root: one place that builds every dependency and wires the consumers."""

from __future__ import annotations

import asyncio

import aiohttp

from contracts_common.crypto import SecretBox
from contracts_common.ironclad import RetryPolicy, TokenCache
from contracts_common.ironclad_access import IroncladAccess, build_rate_limiter
from contracts_common.messages import PageTask, StartRun, WebhookEvent, WritebackTask
from contracts_common.runtime import Runtime
from contracts_common.settings import ImporterSettings
from contracts_common.storage.connections import Connections
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.leases import Leases
from contracts_common.storage.runs import Runs
from importer.documents import DocumentStore
from importer.events import EventHandlers
from importer.failures import RunFailurePolicy
from importer.listing import ListingHandlers
from importer.run_supervisor import RunSupervisor
from importer.scheduler import Scheduler
from importer.webhook_health import WebhookHealth
from importer.writeback import WritebackHandlers


def build_access(
    runtime: Runtime, settings: ImporterSettings, session: aiohttp.ClientSession
) -> IroncladAccess:
    return IroncladAccess(
        session=session,
        connections=Connections(runtime.db, SecretBox(settings.secrets_key.get_secret_value())),
        settings=settings,
        token_cache=TokenCache(),
        rate_limiter=build_rate_limiter(runtime.db, settings),
        retry=RetryPolicy(
            max_retries=settings.max_retries,
            base_seconds=settings.backoff_base_seconds,
            max_seconds=settings.backoff_max_seconds,
        ),
        concurrency=asyncio.Semaphore(settings.ironclad_concurrency),
    )


async def setup(runtime: Runtime) -> None:
    settings = runtime.settings
    assert isinstance(settings, ImporterSettings)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
    runtime.background.append(asyncio.create_task(_close_on_cancel(session)))
    access = build_access(runtime, settings, session)
    runs = Runs(runtime.db)
    failures = RunFailurePolicy(runs, access.connections, settings)
    listing = ListingHandlers(
        access=access,
        broker=runtime.broker,
        runs=runs,
        contracts=Contracts(runtime.db),
        documents=DocumentStore(runtime.db),
        failures=failures,
        page_size=settings.page_size,
        concurrency=settings.ironclad_concurrency,
    )
    await runtime.broker.consume(StartRun, listing.start_run, prefetch=2)
    await runtime.broker.consume(
        PageTask, listing.process_page, prefetch=max(2, settings.ironclad_concurrency // 2)
    )
    events = EventHandlers(
        access=access,
        broker=runtime.broker,
        runs=runs,
        contracts=Contracts(runtime.db),
        documents=DocumentStore(runtime.db),
        failures=failures,
        coalesce_seconds=settings.event_coalesce_seconds,
        concurrency=settings.ironclad_concurrency,
    )
    # A large prefetch: events are held unacked while a tenant's burst is coalesced.
    await runtime.broker.consume(WebhookEvent, events.handle, prefetch=256)
    leases = Leases(runtime.db, runtime.instance)
    health = WebhookHealth(db=runtime.db, access=access, leases=leases, settings=settings)
    runtime.background.append(asyncio.create_task(health.run_forever()))
    writeback = WritebackHandlers(access=access, db=runtime.db, delivery_limit=settings.delivery_limit)
    await runtime.broker.consume(WritebackTask, writeback.handle, prefetch=2)
    runtime.background.append(asyncio.create_task(RunSupervisor(runs, settings).run_forever()))
    if settings.scheduler_enabled:
        scheduler = Scheduler(
            db=runtime.db,
            broker=runtime.broker,
            connections=access.connections,
            leases=leases,
            settings=settings,
        )
        runtime.background.append(asyncio.create_task(scheduler.run_forever()))


async def _close_on_cancel(session: aiohttp.ClientSession) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
