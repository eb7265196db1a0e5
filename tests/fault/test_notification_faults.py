"""R28: a notification survives a restart of every worker while it waits for its retry.

The receiver is down; each notification's first attempt fails and the message waits in a RabbitMQ retry
queue. The importer (the deliverer) and the mapper are killed -9 meanwhile, the receiver comes back, new
processes start: every notification arrives, verified with standardwebhooks. Nothing held the wait but
the broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from contracts_common.messaging import Broker, Topology
from contracts_common.notifications import EventType, Notifier
from tests.fault.support import TENANT, Mongo, Workers, kill9, queue_state
from tests.integration.notifications.support import Receiver, receiving, subscribe
from tests.support.api import AdminApi
from tests.support.services import Stack, wait_for

pytestmark = pytest.mark.fault

RETRY_DELAY = 3.0
SETTINGS = {
    "NOTIFICATIONS_ALLOW_PRIVATE_TARGETS": "true",
    "NOTIFICATION_RETRY_DELAYS_SECONDS": f"[{RETRY_DELAY}]",
}


@pytest.fixture
def notify_env(stack: Stack) -> None:
    stack.shared_settings.update(SETTINGS)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


async def test_r28_notifications_waiting_for_a_retry_survive_a_restart_of_every_worker(
    notify_env: None, receiver: Receiver, api: AdminApi, procs: Workers, db: Mongo, stack: Stack
) -> None:
    await subscribe(api, TENANT, receiver)
    receiver.failing = 503
    importer = await procs.start("importer")
    mapper = await procs.start("mapper")
    broker = Broker(stack.amqp_url, Topology(stack.prefix, 5), prefetch=1, name="test-announcer")
    await broker.connect()
    try:
        notifier = Notifier(broker)
        for n in range(3):
            assert await notifier.announce(TENANT, EventType.HEALTH_CHANGED, {"n": n})
    finally:
        await broker.close()

    async def all_waiting() -> bool:
        pending = await db.db.notification_deliveries.distinct("notification_id", {"status": "pending"})
        return len(pending) == 3

    await wait_for(all_waiting, timeout=20, what="three first attempts failed")
    await kill9(importer)
    await kill9(mapper)
    retry_queue = Topology(stack.prefix, 5).notification_retry_queue(RETRY_DELAY)
    waiting, _ = await queue_state(stack.amqp_url, retry_queue)
    notifications_queue = Topology(stack.prefix, 5).queue("importer.notifications")
    ready, consumers = await queue_state(stack.amqp_url, notifications_queue)
    assert consumers == 0
    # Each is in the retry queue, or already back in the notifications queue with no one to take it.
    assert waiting + ready == 3, (waiting, ready)

    receiver.failing = None
    await procs.start("importer")
    await procs.start("mapper")
    arrived = await receiver.wait_for("health.changed", count=3, timeout=30)
    assert sorted(r.body["data"]["n"] for r in arrived) == [0, 1, 2]
    assert receiver.unverified == []

    async def all_delivered() -> bool:
        rows = [d async for d in db.db.notification_deliveries.find({"status": "delivered"})]
        return len(rows) == 3 and all(row["attempt"] >= 2 for row in rows)

    await wait_for(all_delivered, timeout=10, what="three deliveries recorded on a later attempt")
