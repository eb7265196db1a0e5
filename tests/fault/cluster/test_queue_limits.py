"""A length limit an operator sets by policy refuses publishes rather than dropping messages: the
queues are declared with `x-overflow: reject-publish` for exactly that case (topology.py)."""

from __future__ import annotations

import json
import uuid

import pytest

from contracts_common.messages import RemapTask
from contracts_common.messaging import Broker, BrokerUnavailable, Topology
from tests.fault.cluster.conftest import cluster

pytestmark = pytest.mark.fault


async def test_a_full_queue_refuses_the_publish_and_keeps_what_it_holds(cluster_url: str) -> None:
    prefix = f"limits{uuid.uuid4().hex[:8]}"
    topology = Topology(prefix, delivery_limit=5, queue_replicas=3)
    broker = Broker(cluster_url, topology, prefetch=1, name="queue-limits-test")
    await broker.connect()
    queue = topology.queue(RemapTask.queue)
    policy = f"{prefix}-bounded"
    try:
        cluster(
            "ctl", "set_policy", "--apply-to", "queues", policy, f"^{queue}$", json.dumps({"max-length": 2})
        )
        # A quorum queue takes the publish that crosses its limit and refuses the ones after it.
        acked: list[str] = []
        refused = None
        for i in range(6):
            try:
                await broker.publish(RemapTask(tenant="acme", run_id=f"r{i}", mapping_version=1), timeout=10)
                acked.append(f"r{i}")
            except BrokerUnavailable as exc:
                refused = exc
                break
        assert refused is not None, f"a queue limited to 2 took {acked}"
        assert "Nack" in str(refused)
        assert 2 <= len(acked) <= 3
        channel = await broker.connection.channel()
        held = await channel.declare_queue(queue, passive=True)
        assert held.declaration_result.message_count == len(acked)
        kept = []
        for _ in acked:
            message = await held.get(timeout=5)
            assert message is not None
            kept.append(json.loads(message.body)["run_id"])
            await message.ack()
        assert kept == acked, "every accepted message is kept, the oldest first: none dropped"
        await channel.close()
    finally:
        cluster("ctl", "clear_policy", policy)
        channel = await broker.connection.channel()
        await topology.delete(channel)
        await broker.close()
