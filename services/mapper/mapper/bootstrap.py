"""The mapper's composition root."""

from __future__ import annotations

import asyncio
import uuid

from contracts_common.current_mapping import MappingCache
from contracts_common.health_status import OnHealthChange, build_monitor
from contracts_common.messages import FetchedBatch, LiveBatch, RemapTask
from contracts_common.notifications import Notifier
from contracts_common.runtime import Runtime
from contracts_common.settings import MapperSettings
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.database import Database
from contracts_common.storage.mappings import Mappings
from contracts_common.storage.runs import Runs
from mapper.feed import FeedRecorder
from mapper.handlers import RecordHandlers


def build_handlers(runtime: Runtime, on_health_change: OnHealthChange | None = None) -> RecordHandlers:
    assert isinstance(runtime.settings, MapperSettings)
    # The mapper counts a run's last batch, so it is often the one that finishes the run: it judges the
    # tenant's health then, like the importer (contracts_common.health_status).
    notifier = Notifier(runtime.broker)
    monitor = build_monitor(runtime.db, runtime.settings, on_health_change or notifier.health_changed)
    return RecordHandlers(
        db=runtime.db,
        broker=runtime.broker,
        runs=Runs(runtime.db, on_finish=notifier.run_finished, on_terminal=monitor.run_finished),
        contracts=Contracts(runtime.db),
        mappings=MappingCache(Mappings(runtime.db)),
        remap_batch_size=runtime.settings.remap_batch_size,
    )


async def setup(runtime: Runtime, *, on_health_change: OnHealthChange | None = None) -> None:
    """`on_health_change`: as the importer's (importer.bootstrap.setup)."""
    assert isinstance(runtime.settings, MapperSettings)
    handlers = build_handlers(runtime, on_health_change)
    per_tenant = runtime.settings.mapper_tenant_concurrency
    # Each lane its own queue and consumer: a backfill's pages never hold up webhook syncs and
    # incremental passes. Within a lane, one tenant's batches are stored at most `per_tenant` at a time;
    # the rest of its prefetch waits while other tenants' batches are stored beside them.
    await runtime.broker.consume(FetchedBatch, handlers.store_batch, per_tenant=per_tenant)
    await runtime.broker.consume(LiveBatch, handlers.store_batch, per_tenant=per_tenant)
    # Re-map batches of one tenant in flight: some read and mapped while another is written (measured:
    # 0.48 of a raw bulk write's rate with 2, 0.55 with 4, 10,000 contracts); the prefetch leaves room
    # for as many of other tenants'.
    await runtime.broker.consume(RemapTask, handlers.remap, prefetch=8, per_tenant=4)
    if runtime.settings.change_feed_enabled:
        # Every replica runs one; the lease lets exactly one of them record at a time.
        runtime.background.append(asyncio.create_task(run_recorder(runtime), name="feed-recorder"))


FEED_SERVICE = "mapper-feed"


async def run_recorder(runtime: Runtime) -> None:
    """The recorder on a client of its own: its change stream's long polls never hold a connection the
    handlers need, and its commands are counted apart (`contracts_mongodb_commands_total{service=
    "mapper-feed"}`), so the feed's cost per stored batch can be read in production."""
    settings = runtime.settings
    assert isinstance(settings, MapperSettings)
    db = Database.connect(settings.mongodb_url, settings.mongodb_database, service=FEED_SERVICE)
    recorder = FeedRecorder(
        db=db,
        broker=runtime.broker,
        owner=f"{runtime.instance}:{uuid.uuid4().hex[:8]}",
        retention_days=settings.changes_retention_days,
        lease_seconds=settings.change_feed_lease_seconds,
        notifier=Notifier(runtime.broker),
    )
    try:
        await recorder.run()
    finally:
        await db.close()
