"""The dead-letter keeper: moves every dead-lettered message from its `.dlq` into `dead_letters`.

A dead-letter queue keeps a message safe but out of sight: it can only be read by consuming it. Kept in
MongoDB instead (storage/dead_letters.py), it can be listed per queue and tenant, counted in the tenant's
health, and replayed or discarded through the operator API. A message is acked only after its insert, and
the insert is idempotent (a stable id), so a keeper that dies in between stores it once and loses nothing.
Every importer replica consumes every dead-letter queue; they share the messages like any consumers.
"""

from __future__ import annotations

import asyncio

import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from contracts_common.health_status import HealthMonitor
from contracts_common.messaging import Broker
from contracts_common.messaging.broker import BROKER_ERRORS
from contracts_common.messaging.topology import QUEUE_SUFFIXES
from contracts_common.storage.dead_letters import DeadLetters

log = structlog.get_logger(__name__)

# A failed insert (the database away) is retried after this pause, the message held meanwhile.
RETRY_PAUSE_SECONDS = 1.0


class DeadLetterKeeper:
    def __init__(self, broker: Broker, store: DeadLetters, monitor: HealthMonitor | None) -> None:
        self._broker = broker
        self._store = store
        self._monitor = monitor
        self._channel: AbstractChannel | None = None

    async def start(self) -> None:
        channel = await self._broker.connection.channel()
        await channel.set_qos(prefetch_count=8)
        self._channel = channel
        for suffix in QUEUE_SUFFIXES:
            name = self._broker.topology.dead_letter_queue(suffix)
            queue = await self._broker.topology.declare_dead_letter_queue(channel, suffix)

            async def on_message(incoming: AbstractIncomingMessage, dlq: str = name) -> None:
                await self._keep(dlq, incoming)

            await queue.consume(on_message, no_ack=False)

    async def _keep(self, dead_letter_queue: str, incoming: AbstractIncomingMessage) -> None:
        try:
            letter, new = await self._store.keep(
                dead_letter_queue=dead_letter_queue,
                message_id=incoming.message_id,
                body=incoming.body,
                headers=dict(incoming.headers or {}),
                content_type=incoming.content_type,
            )
        except Exception:
            log.exception("dead_letter_keep_failed", queue=dead_letter_queue)
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            await self._settle(incoming, requeue=True)
            return
        await self._settle(incoming, requeue=None)
        if not new:
            return
        context = {"tenant": letter.tenant} if letter.tenant else {}
        with structlog.contextvars.bound_contextvars(**context):
            log.warning(
                "dead_letter_kept",
                dead_letter=letter.id,
                queue=letter.queue,
                message_type=letter.message_type,
                reason=letter.reason[:200],
            )
            if letter.tenant is not None and self._monitor is not None:
                await self._monitor.observe_quietly(letter.tenant)

    @staticmethod
    async def _settle(incoming: AbstractIncomingMessage, *, requeue: bool | None) -> None:
        try:
            if requeue is None:
                await incoming.ack()
            else:
                await incoming.nack(requeue=requeue)
        except BROKER_ERRORS as exc:
            # The channel died: the broker redelivers, and the keeper stores it once (stable id).
            log.warning("dead_letter_settle_failed", error=repr(exc))
