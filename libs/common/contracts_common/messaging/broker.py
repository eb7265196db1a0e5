"""The broker: a robust connection, confirmed publishes and consumers with an explicit ack policy.

Ack policy of every consumer (see `Consumer._deliver`):
- the handler returned: ack;
- the body is not a valid message, or the handler raised `PermanentFailure`: the message goes to the
  queue's dead-letter queue now, with the reason in its headers, then is acked;
- any other exception: requeued after a short pause, until the delivery limit; the last failing delivery
  goes to the dead-letter queue with its reason. The quorum queue's own `x-delivery-limit` is the backstop
  for a consumer that dies before it can say anything (kill -9, OOM).
A consumer may cap how many of one tenant's messages it handles at once (`per_tenant`): the others of
that tenant wait in the prefetch while other tenants' messages are handled beside them.
An ack on a channel that died meanwhile is dropped, never retried: the broker redelivers that message.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from pydantic import ValidationError

from contracts_common.fairness import TenantCap
from contracts_common.logging import CONTEXT_KEYS, bound_context, current_context
from contracts_common.messages import Message
from contracts_common.messaging.failover import FailoverConnection, parse_amqp_urls, rotated_amqp_url
from contracts_common.messaging.topology import Topology
from contracts_common.metrics import MESSAGES_HANDLED, PUBLISH_FAILURES, QUEUE_LAG_SECONDS

log = structlog.get_logger(__name__)

M = TypeVar("M", bound=Message)

# What can go wrong while talking to the broker; callers map it to "try again later".
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    asyncio.TimeoutError,
    RuntimeError,
)


RECONNECT_INTERVAL = 2.0


class PermanentFailure(Exception):
    """Raised by a handler for a message that can never succeed: dead-letter it now."""


class BrokerUnavailable(Exception):
    """A publish could not be confirmed by the broker."""


DEAD_LETTER_ERRORS: tuple[type[BaseException], ...] = (BrokerUnavailable, *BROKER_ERRORS)


@dataclass(slots=True)
class Delivery:
    """What a handler may want to know about the message besides its body."""

    message_id: str | None
    delivery_count: int
    headers: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[M, Delivery], Awaitable[None]]


class Broker:
    def __init__(self, url: str, topology: Topology, *, prefetch: int, name: str) -> None:
        self.url = url
        self.topology = topology
        self.prefetch = prefetch
        self.name = name
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._dead_letter_exchange: AbstractExchange | None = None
        self._changes_exchange: AbstractExchange | None = None
        self._consumers: list[Consumer[Any]] = []

    async def connect(self, timeout: float = 10.0) -> None:
        # The timeout also bounds every reconnect attempt: a broker that accepts TCP while it is still
        # booting must not hold a reconnect forever. Reconnects are tried every RECONNECT_INTERVAL s.
        # The robust connection gives up when its first attempt fails, so with several cluster nodes
        # each one gets a turn as the first address before the error reaches the caller.
        addresses = len(parse_amqp_urls(self.url))
        for attempt in range(addresses):
            try:
                self._connection = await aio_pika.connect_robust(
                    rotated_amqp_url(self.url, attempt),
                    client_properties={"connection_name": self.name},
                    timeout=timeout,
                    reconnect_interval=RECONNECT_INTERVAL,
                    connection_class=FailoverConnection,
                )
                break
            except (TimeoutError, OSError, aiormq.exceptions.AMQPConnectionError):
                if attempt == addresses - 1:
                    raise
        self._publish_channel = await self.connection.channel(publisher_confirms=True)
        self._exchange = await self.topology.declare(self._publish_channel)
        self._dead_letter_exchange = await self._publish_channel.get_exchange(
            self.topology.dead_letter_exchange
        )
        self._changes_exchange = await self._publish_channel.get_exchange(self.topology.changes_exchange)

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("broker not connected")
        return self._connection

    def is_ready(self) -> bool:
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._connection.connected.is_set()
        )

    async def publish(
        self, message: Message, *, timeout: float = 10.0, headers: dict[str, Any] | None = None
    ) -> None:
        """Publish and wait for the broker's confirm; raise BrokerUnavailable if it does not come."""
        if self._exchange is None:
            raise BrokerUnavailable("broker not connected")
        all_headers: dict[str, Any] = {
            **current_context(),
            "tenant": message.tenant,
            "message_type": type(message).__name__,
            "schema_version": message.schema_version,
            **(headers or {}),
        }
        if "correlation_id" not in all_headers:
            all_headers["correlation_id"] = uuid.uuid4().hex
        amqp_message = aio_pika.Message(
            message.model_dump_json().encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=uuid.uuid4().hex,
            headers=all_headers,
            timestamp=time.time(),
        )
        try:
            confirmation = await self._exchange.publish(
                amqp_message, routing_key=self.topology.queue(message.queue), mandatory=True, timeout=timeout
            )
        except BROKER_ERRORS as exc:
            PUBLISH_FAILURES.labels(queue=message.queue).inc()
            raise BrokerUnavailable(f"publish to {message.queue} not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            PUBLISH_FAILURES.labels(queue=message.queue).inc()
            raise BrokerUnavailable(f"publish to {message.queue} not acknowledged: {confirmation!r}")

    async def publish_delayed(
        self, message: Message, queue: str, *, expiration_seconds: float, timeout: float = 10.0
    ) -> None:
        """Publish `message` straight to `queue` (a retry queue, see Topology.declare_notification_retries)
        to expire there after `expiration_seconds`, and wait for the confirm."""
        if self._publish_channel is None:
            raise BrokerUnavailable("broker not connected")
        amqp_message = aio_pika.Message(
            message.model_dump_json().encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=uuid.uuid4().hex,
            headers={
                **current_context(),
                "tenant": message.tenant,
                "message_type": type(message).__name__,
                "schema_version": message.schema_version,
            },
            timestamp=time.time(),
            expiration=expiration_seconds,
        )
        try:
            confirmation = await self._publish_channel.default_exchange.publish(
                amqp_message, routing_key=queue, mandatory=True, timeout=timeout
            )
        except BROKER_ERRORS as exc:
            PUBLISH_FAILURES.labels(queue=message.queue).inc()
            raise BrokerUnavailable(f"publish to {queue} not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            PUBLISH_FAILURES.labels(queue=message.queue).inc()
            raise BrokerUnavailable(f"publish to {queue} not acknowledged: {confirmation!r}")

    async def announce_changes(self, routing_key: str, body: bytes, *, timeout: float = 10.0) -> None:
        """Publish a change-feed notice to the topic exchange and wait for the confirm. Not mandatory:
        with no queue bound (nobody listening) the broker simply drops it."""
        if self._changes_exchange is None:
            raise BrokerUnavailable("broker not connected")
        message = aio_pika.Message(
            body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=uuid.uuid4().hex,
            timestamp=time.time(),
        )
        try:
            confirmation = await self._changes_exchange.publish(
                message, routing_key=routing_key, timeout=timeout
            )
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(f"change notice not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise BrokerUnavailable(f"change notice not acknowledged: {confirmation!r}")

    async def publish_with_retry(
        self,
        message: Message,
        *,
        attempts: int = 8,
        max_wait: float = 5.0,
        headers: dict[str, Any] | None = None,
    ) -> None:
        """Publish, retrying unconfirmed publishes while the robust connection comes back."""
        delay = 0.2
        for attempt in range(1, attempts + 1):
            try:
                await self.publish(message, headers=headers)
                return
            except BrokerUnavailable:
                if attempt == attempts:
                    raise
                log.warning("publish_retry", queue=message.queue, attempt=attempt)
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_wait)

    async def republish(
        self,
        queue: str,
        body: bytes,
        *,
        headers: dict[str, Any],
        message_id: str,
        content_type: str | None,
        timeout: float = 10.0,
    ) -> None:
        """Put a kept message back on its work queue (`queue`, its full name) as it was, confirmed:
        a dead letter's replay. Raises BrokerUnavailable if the broker does not confirm it."""
        if self._exchange is None:
            raise BrokerUnavailable("broker not connected")
        message = aio_pika.Message(
            body,
            content_type=content_type or "application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message_id,
            headers=headers,
            timestamp=time.time(),
        )
        try:
            confirmation = await self._exchange.publish(
                message, routing_key=queue, mandatory=True, timeout=timeout
            )
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(f"replay to {queue} not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise BrokerUnavailable(f"replay to {queue} not acknowledged: {confirmation!r}")

    async def dead_letter(self, queue_suffix: str, incoming: AbstractIncomingMessage, reason: str) -> None:
        if self._dead_letter_exchange is None:
            raise BrokerUnavailable("broker not connected")
        headers = dict(incoming.headers or {})
        headers.update(
            {
                "x-error-reason": reason[:2000],
                "x-original-queue": self.topology.queue(queue_suffix),
                "x-dead-lettered-by": self.name,
            }
        )
        confirmation = await self._dead_letter_exchange.publish(
            aio_pika.Message(
                incoming.body,
                content_type=incoming.content_type,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=incoming.message_id,
                headers=headers,
            ),
            routing_key=self.topology.queue(queue_suffix),
            mandatory=True,
            timeout=10,
        )
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            raise BrokerUnavailable(f"dead-letter publish not acknowledged: {confirmation!r}")

    async def consume(
        self,
        message_type: type[M],
        handler: Handler[M],
        *,
        prefetch: int | None = None,
        per_tenant: int | None = None,
    ) -> Consumer[M]:
        """Consume `message_type`'s queue; `per_tenant` caps one tenant's handlers running at once and
        should stay below `prefetch`, so the prefetch always has room for the other tenants."""
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch or self.prefetch)
        queue = await self.topology.declare_queue(channel, message_type.queue)
        cap = TenantCap(per_tenant) if per_tenant is not None else None
        consumer = Consumer(self, channel, queue, message_type, handler, cap)
        await consumer.start()
        self._consumers.append(consumer)
        return consumer

    async def declare_notification_retries(self, delays: list[float]) -> None:
        await self.topology.declare_notification_retries(self._channel_for_declaring(), delays)

    def _channel_for_declaring(self) -> AbstractChannel:
        if self._publish_channel is None:
            raise BrokerUnavailable("broker not connected")
        return self._publish_channel

    async def stop_consuming(self, grace: float = 25.0) -> None:
        """Stop taking new messages, then wait for the ones being handled (SIGTERM path)."""
        for consumer in self._consumers:
            await consumer.cancel()
        deadline = time.monotonic() + grace
        for consumer in self._consumers:
            await consumer.drain(max(0.0, deadline - time.monotonic()))

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


class Consumer(Generic[M]):
    def __init__(
        self,
        broker: Broker,
        channel: AbstractChannel,
        queue: AbstractQueue,
        message_type: type[M],
        handler: Handler[M],
        cap: TenantCap | None = None,
    ) -> None:
        self._broker = broker
        self._cap = cap
        self._channel = channel
        self._queue = queue
        self._type = message_type
        self._handler = handler
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message, no_ack=False)

    async def cancel(self) -> None:
        if self._tag is not None:
            try:
                await self._queue.cancel(self._tag)
            except BROKER_ERRORS:
                log.warning("consumer_cancel_failed", queue=self._queue.name)
            self._tag = None

    async def drain(self, timeout: float) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=timeout)

    async def _on_message(self, incoming: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._deliver(incoming)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _deliver(self, incoming: AbstractIncomingMessage) -> None:
        headers = dict(incoming.headers or {})
        context = {k: str(headers[k]) for k in CONTEXT_KEYS if headers.get(k) is not None}
        raw_count = headers.get("x-delivery-count", 0)
        count = int(raw_count) if isinstance(raw_count, int | str) else 0
        suffix = self._type.queue
        if incoming.timestamp is not None:
            lag = time.time() - incoming.timestamp.timestamp()
            QUEUE_LAG_SECONDS.labels(queue=suffix).observe(max(0.0, lag))
        with bound_context(context):
            try:
                message = self._type.model_validate_json(incoming.body)
            except ValidationError as exc:
                await self._dead_letter(incoming, f"invalid {self._type.__name__}: {exc}")
                MESSAGES_HANDLED.labels(queue=suffix, outcome="invalid").inc()
                return
            delivery = Delivery(message_id=incoming.message_id, delivery_count=count, headers=headers)
            try:
                if self._cap is None:
                    await self._handler(message, delivery)
                else:
                    async with self._cap.hold(message.tenant):
                        await self._handler(message, delivery)
            except PermanentFailure as exc:
                log.error("message_failed_permanently", queue=suffix, error=str(exc))
                await self._dead_letter(incoming, f"permanent failure: {exc}")
                MESSAGES_HANDLED.labels(queue=suffix, outcome="dead_lettered").inc()
                return
            except asyncio.CancelledError:
                await self._settle(incoming.nack(requeue=True))
                raise
            except Exception as exc:
                MESSAGES_HANDLED.labels(queue=suffix, outcome="error").inc()
                if count + 1 >= self._broker.topology.delivery_limit:
                    log.exception("message_failed_final", queue=suffix, deliveries=count + 1)
                    await self._dead_letter(incoming, f"failed {count + 1} deliveries, last: {exc!r}")
                    return
                log.warning("message_failed_retrying", queue=suffix, deliveries=count + 1, error=repr(exc))
                # A short pause keeps a failing message from spinning; the others in the prefetch go on.
                await asyncio.sleep(min(0.2 * 2**count, 5.0))
                await self._settle(incoming.nack(requeue=True))
                return
            await self._settle(incoming.ack())
            MESSAGES_HANDLED.labels(queue=suffix, outcome="ok").inc()

    async def _dead_letter(self, incoming: AbstractIncomingMessage, reason: str) -> None:
        try:
            await self._broker.dead_letter(self._type.queue, incoming, reason)
        except DEAD_LETTER_ERRORS:
            # Not confirmed: leave it to a redelivery rather than lose it.
            log.warning("dead_letter_failed", queue=self._type.queue)
            await self._settle(incoming.nack(requeue=True))
            return
        await self._settle(incoming.ack())

    @staticmethod
    async def _settle(settling: Awaitable[None]) -> None:
        try:
            await settling
        except BROKER_ERRORS as exc:
            # The channel died under us: the broker will redeliver; acking on a dead channel is an error.
            log.warning("settle_on_dead_channel", error=repr(exc))
