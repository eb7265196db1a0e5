"""The whole RabbitMQ topology, declared in one place.

One direct exchange routes each message type to its queue (routing key = queue name). A topic exchange,
`<prefix>.changes`, announces the change feed's recorded groups to whoever binds a queue to it.
Every queue is a durable quorum queue with an explicit delivery limit and its own dead-letter queue
behind a dead-letter exchange, using at-least-once dead-lettering so a dead-lettered message cannot
be lost on the way.

Notifications wait between attempts in retry queues, one per delay (`<prefix>.importer.notifications.
retry.<ms>ms`): a message expires there after its delay and is dead-lettered back to the notifications
queue. The wait is the broker's, not a timer in a process, so a restart of every service loses none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from contracts_common.messages import MESSAGE_TYPES, Notification

BACKSTOP_FACTOR = 4
# The production retry delays (ImporterSettings.notification_retry_delays_seconds); `delete` removes
# their queues and those of any other delays it is given.
DEFAULT_NOTIFICATION_RETRY_DELAYS: tuple[float, ...] = (10.0, 60.0, 300.0, 1800.0, 7200.0, 21600.0)
# A retry queue's own TTL is its delay times this: the backstop for a message published without its
# (jittered, at most +20 %) expiration.
RETRY_QUEUE_TTL_FACTOR = 1.25

QUEUE_SUFFIXES: tuple[str, ...] = tuple(dict.fromkeys(m.queue for m in MESSAGE_TYPES))


@dataclass(frozen=True, slots=True)
class Topology:
    prefix: str
    delivery_limit: int
    # Replicas of every quorum queue (x-quorum-initial-group-size); None: the broker's default, all
    # cluster nodes. Every service must declare the queues alike.
    queue_replicas: int | None = None

    def _replicas(self) -> dict[str, Any]:
        return {} if self.queue_replicas is None else {"x-quorum-initial-group-size": self.queue_replicas}

    @property
    def exchange(self) -> str:
        return self.prefix

    @property
    def changes_exchange(self) -> str:
        """The change feed's topic exchange: one message per tenant, action and recorded group, routing
        key `<tenant>.<action>`. No queue of ours is bound to it; other services bind their own."""
        return f"{self.prefix}.changes"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.prefix}.dlx"

    def queue(self, suffix: str) -> str:
        return f"{self.prefix}.{suffix}"

    def dead_letter_queue(self, suffix: str) -> str:
        return f"{self.queue(suffix)}.dlq"

    @property
    def queues(self) -> list[str]:
        return [self.queue(s) for s in QUEUE_SUFFIXES]

    async def declare(self, channel: AbstractChannel) -> AbstractExchange:
        exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.DIRECT, durable=True)
        dlx = await channel.declare_exchange(
            self.dead_letter_exchange, aio_pika.ExchangeType.DIRECT, durable=True
        )
        await channel.declare_exchange(self.changes_exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        for suffix in QUEUE_SUFFIXES:
            name = self.queue(suffix)
            dlq = await self.declare_dead_letter_queue(channel, suffix)
            await dlq.bind(dlx, routing_key=name)
            queue = await self.declare_queue(channel, suffix)
            await queue.bind(exchange, routing_key=name)
        return exchange

    def queue_arguments(self, suffix: str) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            # The broker's own limit is only the backstop for consumers that die holding a message
            # (kill -9, OOM): every such death counts as a delivery. Consumers dead-letter a message
            # that fails `delivery_limit` times themselves, with the reason (see broker.Consumer).
            "x-delivery-limit": self.delivery_limit * BACKSTOP_FACTOR,
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": self.queue(suffix),
            "x-dead-letter-strategy": "at-least-once",
            # No length limit is set here; an operator may bound a queue with a `max-length` policy
            # (deploy/README.md). This argument, which takes precedence over any policy's, makes a
            # full queue refuse new publishes (the publisher sees a nack and retries, or the receiver
            # answers 503 and Ironclad retries) instead of silently dropping its oldest messages.
            "x-overflow": "reject-publish",
            **self._replicas(),
        }

    async def declare_dead_letter_queue(self, channel: AbstractChannel, suffix: str) -> AbstractQueue:
        """Declare one dead-letter queue (its consumer, the dead-letter keeper, declares it too: a robust
        channel re-consumes only the queues declared through it)."""
        return await channel.declare_queue(
            self.dead_letter_queue(suffix),
            durable=True,
            arguments={"x-queue-type": "quorum", **self._replicas()},
        )

    async def declare_queue(self, channel: AbstractChannel, suffix: str) -> AbstractQueue:
        """Declare one work queue. Consumers declare (not just look up) their queue: a robust channel
        re-declares and re-consumes only the queues declared through it after a reconnect."""
        return await channel.declare_queue(
            self.queue(suffix), durable=True, arguments=self.queue_arguments(suffix)
        )

    def notification_retry_queue(self, delay_seconds: float) -> str:
        return f"{self.queue(Notification.queue)}.retry.{round(delay_seconds * 1000)}ms"

    async def declare_notification_retries(self, channel: AbstractChannel, delays: Iterable[float]) -> None:
        """The retry queues of these delays. Messages are published to them through the default exchange
        with a per-message expiration; expired, they go back to the notifications queue. Quorum queues
        with at-least-once dead-lettering, like every other queue: a message is never dropped between
        the two."""
        for delay in dict.fromkeys(delays):
            await channel.declare_queue(
                self.notification_retry_queue(delay),
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-message-ttl": round(delay * 1000 * RETRY_QUEUE_TTL_FACTOR),
                    "x-dead-letter-exchange": self.exchange,
                    "x-dead-letter-routing-key": self.queue(Notification.queue),
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                    **self._replicas(),
                },
            )

    async def delete(
        self, channel: AbstractChannel, retry_delays: Iterable[float] = DEFAULT_NOTIFICATION_RETRY_DELAYS
    ) -> None:
        """Remove everything `declare` made (tests clean up after themselves)."""
        for delay in retry_delays:
            await channel.queue_delete(self.notification_retry_queue(delay))
        for suffix in QUEUE_SUFFIXES:
            await channel.queue_delete(self.queue(suffix))
            await channel.queue_delete(self.dead_letter_queue(suffix))
        await channel.exchange_delete(self.exchange)
        await channel.exchange_delete(self.dead_letter_exchange)
        await channel.exchange_delete(self.changes_exchange)
