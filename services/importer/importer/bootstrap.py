"""The importer's composition root: one place that builds every dependency and wires the consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import aiohttp

from contracts_common.crypto import SecretBox
from contracts_common.health_status import HealthMonitor, OnHealthChange, build_monitor
from contracts_common.ironclad import RetryPolicy, TokenCache
from contracts_common.ironclad_access import IroncladAccess, build_rate_limiter, lane_slots
from contracts_common.messages import (
    ListingDone,
    Notification,
    PageTask,
    StartRun,
    WebhookEvent,
    WritebackTask,
)
from contracts_common.notifications import Notifier
from contracts_common.runtime import Runtime
from contracts_common.settings import ImporterSettings
from contracts_common.storage.audit import AuditLog
from contracts_common.storage.connections import Connections
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.dead_letters import DeadLetters
from contracts_common.storage.notifications import NotificationDeliveries, NotificationEndpoints
from contracts_common.storage.runs import Runs
from contracts_common.timeutil import utcnow
from importer.closing import ClosingPass
from importer.dead_letter_keeper import DeadLetterKeeper
from importer.delta import DeltaSync
from importer.documents import DocumentStore
from importer.events import EventHandlers
from importer.failures import RunFailurePolicy
from importer.listing import ListingHandlers
from importer.notifications import NotificationDelivery, delivery_session
from importer.publishing import RecordPublisher
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
        slots=lane_slots(settings),
    )


async def setup(runtime: Runtime, *, on_health_change: OnHealthChange | None = None) -> None:
    """`on_health_change` is told of each change of a tenant's health, once; by default it is announced as
    the `health.changed` notification (tests pass their own to watch the changes)."""
    settings = runtime.settings
    assert isinstance(settings, ImporterSettings)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
    runtime.background.append(asyncio.create_task(_close_on_cancel(session)))
    access = build_access(runtime, settings, session)
    notifier = Notifier(runtime.broker)
    monitor = build_monitor(runtime.db, settings, on_health_change or notifier.health_changed)
    runs = Runs(runtime.db, on_finish=notifier.run_finished, on_terminal=monitor.run_finished)
    contracts = Contracts(runtime.db)
    failures = RunFailurePolicy(runs, access.connections, settings, notifier=notifier, monitor=monitor)
    per_tenant = settings.ironclad_tenant_concurrency
    publisher = build_publisher(runtime, settings)
    listing = ListingHandlers(
        access=access,
        broker=runtime.broker,
        runs=runs,
        contracts=contracts,
        publisher=publisher,
        closing=ClosingPass(
            access=access,
            runs=runs,
            contracts=contracts,
            publisher=publisher,
            concurrency=per_tenant,
        ),
        failures=failures,
        page_size=settings.page_size,
        window=settings.run_pages_in_flight,
    )
    # Backfill lane. A run keeps only `run_pages_in_flight` pages outstanding (commands.advance_listing),
    # and each consumer caps one tenant's handlers, so another tenant's run starts beside a backfill
    # instead of behind it: its messages find room in the prefetch and a free handler.
    await runtime.broker.consume(StartRun, listing.start_run, prefetch=4, per_tenant=1)
    await runtime.broker.consume(ListingDone, listing.close_listing, prefetch=4, per_tenant=1)
    # Two pages in flight at least: the next page is listed while this one's documents download (one
    # page at a time measured 11 % slower for a single replica; the last pages of a run then spread
    # less evenly over replicas, which cost less than that in bench/report's scaling run).
    pages_per_tenant = max(2, per_tenant // 2)
    await runtime.broker.consume(
        PageTask, listing.process_page, prefetch=2 * pages_per_tenant, per_tenant=pages_per_tenant
    )
    events = EventHandlers(
        access=access,
        broker=runtime.broker,
        runs=runs,
        contracts=contracts,
        publisher=publisher,
        failures=failures,
        coalesce_seconds=settings.event_coalesce_seconds,
        concurrency=settings.ironclad_live_tenant_concurrency,
        claims=runtime.db.webhook_work,
    )
    # A large prefetch: events are held unacked while a tenant's burst is coalesced.
    await runtime.broker.consume(WebhookEvent, events.handle, prefetch=256)
    writeback = WritebackHandlers(
        access=access, db=runtime.db, delivery_limit=settings.delivery_limit, notifier=notifier
    )
    await runtime.broker.consume(WritebackTask, writeback.handle, prefetch=4, per_tenant=2)
    await setup_notifications(runtime, settings)
    runtime.background.append(
        asyncio.create_task(RunSupervisor(runs, runtime.broker, settings, monitor).run_forever())
    )
    if settings.dead_letter_keeper_enabled:
        await DeadLetterKeeper(runtime.broker, DeadLetters(runtime.db), monitor).start()
    if settings.scheduler_enabled:
        scheduler = build_scheduler(runtime, access, publisher, monitor=monitor)
        runtime.background.append(asyncio.create_task(scheduler.run_forever()))


def build_notification_delivery(
    runtime: Runtime,
    settings: ImporterSettings,
    session: aiohttp.ClientSession,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> NotificationDelivery:
    return NotificationDelivery(
        broker=runtime.broker,
        endpoints=NotificationEndpoints(runtime.db, SecretBox(settings.secrets_key.get_secret_value())),
        deliveries=NotificationDeliveries(runtime.db),
        audit=AuditLog(runtime.db),
        session=session,
        settings=settings,
        clock=clock,
    )


async def setup_notifications(runtime: Runtime, settings: ImporterSettings) -> None:
    """Deliver notifications. Each delivery takes at most NOTIFICATION_TIMEOUT_SECONDS and a failed one
    leaves for a retry queue, so nothing waits here long; the per-tenant cap keeps a tenant whose endpoint
    hangs to its share while the other tenants' notifications go on beside it."""
    session = delivery_session(settings)
    runtime.background.append(asyncio.create_task(_close_on_cancel(session)))
    await runtime.broker.declare_notification_retries(settings.notification_retry_delays_seconds)
    delivery = build_notification_delivery(runtime, settings, session)
    per_tenant = settings.notification_tenant_concurrency
    await runtime.broker.consume(
        Notification, delivery.handle, prefetch=8 * per_tenant, per_tenant=per_tenant
    )


def build_publisher(runtime: Runtime, settings: ImporterSettings) -> RecordPublisher:
    # One tenant's requests in flight: what a batch's document downloads or a closing pass's reads may
    # use at once (the lanes' slots bound them again, across tenants).
    return RecordPublisher(
        documents=DocumentStore(runtime.db, writes_per_tenant=settings.document_writes_per_tenant),
        broker=runtime.broker,
        concurrency=settings.ironclad_tenant_concurrency,
    )


def build_scheduler(
    runtime: Runtime,
    access: IroncladAccess,
    publisher: RecordPublisher,
    *,
    clock: Callable[[], datetime] = utcnow,
    monitor: HealthMonitor | None = None,
) -> Scheduler:
    settings = runtime.settings
    assert isinstance(settings, ImporterSettings)
    notifier = Notifier(runtime.broker)
    monitor = monitor or build_monitor(runtime.db, settings, notifier.health_changed)
    return Scheduler(
        db=runtime.db,
        broker=runtime.broker,
        connections=access.connections,
        delta=DeltaSync(
            access=access,
            runs=Runs(runtime.db, on_finish=notifier.run_finished, on_terminal=monitor.run_finished),
            contracts=Contracts(runtime.db),
            publisher=publisher,
            overlap_seconds=settings.delta_sync_overlap_seconds,
        ),
        health=WebhookHealth(access=access, notifier=notifier, monitor=monitor),
        settings=settings,
        owner=runtime.instance,
        clock=clock,
    )


async def _close_on_cancel(session: aiohttp.ClientSession) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()
