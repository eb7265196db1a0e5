"""What every worker process does around its handlers: connect, serve probes, stop on SIGTERM.

SIGTERM (and Ctrl-C): stop consuming, let the handlers in flight finish (or requeue them when the
grace period ends), close the broker and the database, exit. Nothing held is lost: an unacked
message goes back to its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog

from contracts_common.health import start_probe_server
from contracts_common.messaging import Broker, Topology
from contracts_common.settings import SharedSettings
from contracts_common.storage.database import Database

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    settings: SharedSettings
    db: Database
    broker: Broker
    instance: str
    background: list[asyncio.Task[None]] = field(default_factory=list)

    async def readiness(self) -> dict[str, bool]:
        return {"broker": self.broker.is_ready(), "database": await self.db.ping()}


def instance_name(service: str) -> str:
    return f"{service}@{socket.gethostname()}:{os.getpid()}"


@asynccontextmanager
async def connected(settings: SharedSettings, service: str) -> AsyncIterator[Runtime]:
    db = Database.connect(settings.mongodb_url, settings.mongodb_database, service=service)
    await db.ensure_indexes()
    broker = Broker(
        settings.amqp_url,
        Topology(settings.queue_prefix, settings.delivery_limit, settings.queue_replicas),
        prefetch=settings.prefetch_count,
        name=instance_name(service),
    )
    await broker.connect()
    runtime = Runtime(settings=settings, db=db, broker=broker, instance=instance_name(service))
    try:
        yield runtime
    finally:
        for task in runtime.background:
            task.cancel()
        for task in runtime.background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await broker.close()
        await db.close()


async def every(seconds: float, tick: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `tick` forever, `seconds` apart; a failing tick is logged and the next one still runs."""
    while True:
        try:
            await tick()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic_tick_failed", task=name)
        await asyncio.sleep(seconds)


def dump_tasks() -> None:
    """SIGUSR1: log the stack of every asyncio task, to see what a stuck worker waits on."""
    import io

    for task in asyncio.all_tasks():
        out = io.StringIO()
        task.print_stack(file=out)
        log.warning("task_stack", task=task.get_name(), stack=out.getvalue()[-4000:])


async def run_worker(
    settings: SharedSettings, service: str, setup: Callable[[Runtime], Awaitable[None]], grace: float = 25.0
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    async with connected(settings, service) as runtime:
        probes = await start_probe_server(settings.health_port, runtime.readiness)
        await setup(runtime)
        log.info("worker_started", service=service, instance=runtime.instance)
        await stop.wait()
        log.info("worker_stopping", service=service)
        await runtime.broker.stop_consuming(grace=grace)
        if probes is not None:
            await probes.cleanup()
    log.info("worker_stopped", service=service)
