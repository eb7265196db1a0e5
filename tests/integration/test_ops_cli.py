"""The operator CLI, run as operators run it: `python -m contracts_common.ops ...` against the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import aio_pika
import pytest

from contracts_common.messaging import Broker, Topology
from tests.support.api import AdminApi
from tests.support.services import REPO, Stack


def ops(stack: Stack, *args: str, **env: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "contracts_common.ops", *args],
        env={**stack.env(**env)},
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


async def test_queues_dlq_show_and_replay(stack: Stack) -> None:
    topology = Topology(stack.prefix, 5)
    broker = Broker(stack.amqp_url, topology, prefetch=1, name="test")
    await broker.connect()
    try:
        channel = await broker.connection.channel()
        dlx = await channel.get_exchange(topology.dead_letter_exchange)
        await dlx.publish(
            aio_pika.Message(
                b'{"not": "a record"}', headers={"x-error-reason": "invalid FetchedBatch", "tenant": "t"}
            ),
            routing_key=topology.queue("mapper.records"),
        )
        await asyncio.sleep(0.3)
        depths = {row["queue"]: row["messages"] for row in await asyncio.to_thread(ops, stack, "queues")}
        assert depths[topology.dead_letter_queue("mapper.records")] == 1
        assert depths[topology.queue("mapper.records")] == 0

        shown = await asyncio.to_thread(ops, stack, "dlq", "show", "mapper.records")
        assert [m["reason"] for m in shown] == ["invalid FetchedBatch"]
        depths = {row["queue"]: row["messages"] for row in await asyncio.to_thread(ops, stack, "queues")}
        assert depths[topology.dead_letter_queue("mapper.records")] == 1, "show must not consume"

        assert (await asyncio.to_thread(ops, stack, "dlq", "replay", "mapper.records")) == {"replayed": 1}
        depths = {row["queue"]: row["messages"] for row in await asyncio.to_thread(ops, stack, "queues")}
        assert depths[topology.dead_letter_queue("mapper.records")] == 0
        assert depths[topology.queue("mapper.records")] == 1
    finally:
        await broker.close()


async def test_rotate_secrets_re_encrypts_under_the_new_key(
    api: AdminApi, stack: Stack, company: dict[str, Any]
) -> None:
    from cryptography.fernet import Fernet, InvalidToken
    from pymongo import AsyncMongoClient

    from tests.support.services import SECRETS_KEY

    assert (await api.connect("acme", company["apps"][0], "admin@acme.example")).status == 200
    new_key = Fernet.generate_key().decode()
    answer = await asyncio.to_thread(ops, stack, "rotate-secrets", SECRETS_KEY=f"{new_key},{SECRETS_KEY}")
    assert answer == {"rotated": 1}
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongodb_url)
    try:
        stored = await client[stack.database].connections.find_one({"tenant": "acme"})
    finally:
        await client.close()
    assert stored is not None
    token = stored["client_secret_encrypted"].encode()
    assert Fernet(new_key.encode()).decrypt(token).decode() == company["apps"][0]["client_secret"]
    with pytest.raises(InvalidToken):
        Fernet(SECRETS_KEY.encode()).decrypt(token)
