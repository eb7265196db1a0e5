"""A message no consumer can handle, put straight into a world's dead letters (as a consumer that gave up
on it would): the operator's dead-letter view and API have something to discard."""

from __future__ import annotations

import aio_pika

from contracts_common.messaging import Topology
from tests.support.services import Stack

POISON_ID = "poison-1"


async def dead_letter_a_poison_page_task(stack: Stack) -> str:
    """Publish an invalid PageTask of tenant acme to the dead-letter exchange, routed as the pages queue's
    dead letters are; returns the pages queue's name."""
    pages_queue = Topology(stack.prefix, 2).queue("importer.pages")
    connection = await aio_pika.connect(stack.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        dlx = await channel.get_exchange(Topology(stack.prefix, 2).dead_letter_exchange)
        await dlx.publish(
            aio_pika.Message(
                b'{"tenant": "acme", "run_id": "r1", "kind": "import", "page": 0}',
                message_id=POISON_ID,
                headers={"x-error-reason": "invalid PageTask: page_size missing", "message_type": "PageTask"},
            ),
            routing_key=pages_queue,
        )
    return pages_queue
