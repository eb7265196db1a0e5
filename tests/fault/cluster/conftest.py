"""The three-node test cluster (scripts/rabbitmq-cluster.sh): started when missing, as the MongoDB
server is; each test's world uses all three nodes through a comma-separated AMQP_URL, with every
quorum queue replicated on all of them (QUEUE_REPLICAS=3)."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator

import pytest

from tests.support.services import REPO, Stack, drop_stack

SCRIPT = REPO / "scripts" / "rabbitmq-cluster.sh"


def cluster(*args: str, timeout: float = 240) -> str:
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmq-cluster.sh {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip()


def drained(prefix: str) -> bool:
    """Every queue of this world (`prefix.`) holds nothing: no message ready, none delivered and unacked.
    The workers ack only after the work a message starts is done, so a drained world has no work left that
    could still start: a test that asserts something did not happen decides it here, not after a sleep."""
    out = cluster(
        "ctl", "list_queues", "-q", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged"
    )
    rows = [line.split() for line in out.splitlines() if line.startswith(prefix + ".")]
    return bool(rows) and all(len(row) == 3 and row[1] == row[2] == "0" for row in rows)


@pytest.fixture(scope="session")
def cluster_url() -> str:
    cluster("start")
    return cluster("url")


@pytest.fixture
async def stack(service_urls: tuple[str, str], cluster_url: str) -> AsyncIterator[Stack]:
    world = Stack(amqp_url=cluster_url, mongodb_url=service_urls[1], shared_settings={"QUEUE_REPLICAS": "3"})
    yield world
    # A node stopped by a test comes back before the next one starts.
    cluster("start")
    await drop_stack(world)
