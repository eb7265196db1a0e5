"""Broker faults (R6, R7, R8): poison messages, a broker restart, a cut TCP connection."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika
import pytest

from contracts_common.messages import FetchedBatch, FetchedItem
from tests.fault.support import (
    TENANT,
    Mongo,
    TcpProxy,
    Workers,
    assert_exact,
    broker_reachable,
    connect,
    ensure_rabbit_running,
    queue_state,
    rabbitmqctl,
    wait_consumers,
    wait_pages,
)
from tests.support.api import AdminApi
from tests.support.services import Stack, wait_for

pytestmark = pytest.mark.fault

# R8's "within seconds", with room for a loaded two-core CI machine: after a broker restart, and after a cut
# TCP connection (measured from the cut, reconnects included).
CONSUMERS_BACK_SECONDS = 30.0
RECONNECT_SECONDS = 15.0


def _record(i: int) -> dict[str, Any]:
    return {
        "id": f"rec-{i:04d}",
        "ironcladId": f"IC-{i}",
        "type": "contract",
        "name": f"Contract {i}",
        "lastUpdated": "2026-01-01T00:00:00.000Z",
        "properties": {},
        "attachments": {},
    }


def _batch(tenant: str, records: list[dict[str, Any]]) -> bytes:
    items = [FetchedItem(slot=str(r["id"]), record=r) for r in records]
    return FetchedBatch(tenant=tenant, run_id=None, items=items).model_dump_json().encode()


async def test_r6_poison_messages_go_to_the_dlq_and_the_rest_flow(
    stack: Stack, procs: Workers, db: Mongo
) -> None:
    """R6: an invalid body and a body whose handler always fails land in the DLQ with x-error-reason;
    the valid messages published behind them are all stored. A record that can never be stored,
    inside an otherwise good batch, fails alone: the rest of its batch is stored."""
    # A tenant whose stored mapping is corrupt: every batch of it fails, delivery after delivery.
    await db.db.mappings.insert_one({"tenant": "poisoned", "version": 1, "rules": [{"bogus": True}]})
    await procs.start("mapper", PREFETCH_COUNT=4)
    queue = f"{stack.prefix}.{FetchedBatch.queue}"
    dlq = f"{queue}.dlq"
    connection = await aio_pika.connect(stack.amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)

        async def publish(body: bytes, **headers: Any) -> None:
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    content_type="application/json",
                    headers=headers or None,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=queue,
            )

        await publish(b'{"this is": not json')
        await publish(_batch("poisoned", [_record(5000)]))
        # Valid schema, but one record can never be stored: lastUpdated is not a timestamp.
        bad = _record(9999) | {"lastUpdated": "not-a-timestamp"}
        await publish(_batch(TENANT, [bad, *(_record(i) for i in range(10))]))
        for start in range(10, 30, 5):
            await publish(_batch(TENANT, [_record(i) for i in range(start, start + 5)]))

        async def all_stored() -> bool:
            return int(await db.db.contracts.count_documents({"tenant": TENANT})) == 30

        await wait_for(all_stored, timeout=30, what="the 30 valid records behind the poison")

        async def dead_lettered() -> bool:
            return (await queue_state(stack.amqp_url, dlq))[0] == 2

        await wait_for(dead_lettered, timeout=30, what="two messages in the DLQ")
        dead = await channel.declare_queue(dlq, passive=True)
        reasons: dict[str, dict[str, Any]] = {}
        for _ in range(2):
            message = await dead.get(timeout=5)
            assert message is not None
            headers = dict(message.headers or {})
            reason = str(headers.get("x-error-reason", ""))
            assert reason, f"no x-error-reason on {message.body[:80]!r}"
            reasons[reason] = headers
            await message.ack()
    assert any(r.startswith("invalid FetchedBatch") for r in reasons), reasons
    failed = [r for r in reasons if r.startswith("failed ")]
    assert failed, reasons
    assert failed[0].startswith(f"failed {stack_delivery_limit(procs)} deliveries"), failed
    assert await queue_state(stack.amqp_url, queue) == (0, 1)
    assert not await db.db.contracts.find_one({"ironclad.id": "rec-9999"})
    assert not await db.db.contracts.find_one({"tenant": "poisoned"})


def stack_delivery_limit(procs: Workers) -> int:
    return int(procs.env().get("DELIVERY_LIMIT", "5"))


async def _import_setup(api: AdminApi, sim: Any, company: dict[str, Any], count: int) -> str:
    cid = str(company["company_id"])
    await sim.seed(
        cid, count=count, seed=7, document_ratio=0.2, min_document_bytes=500, max_document_bytes=4000
    )
    await sim.set_config(latency_ms=60)
    await connect(api, company)
    return cid


async def test_r7_broker_restart_mid_import(
    stack: Stack, api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    """R7/R8: `rabbitmqctl stop_app/start_app` mid-import: the import completes exactly and every
    consumer is back on its own."""
    cid = await _import_setup(api, sim, company, 400)
    settings = {"PAGE_SIZE": 20, "IRONCLAD_CONCURRENCY": 2}
    await procs.start("importer", **settings)
    await procs.start("mapper", **settings)
    run_id = await api.start_import(TENANT)
    await wait_pages(db, run_id, at_least=3)
    try:
        rabbitmqctl("stop_app")
        await asyncio.sleep(2)
    finally:
        ensure_rabbit_running()
    await wait_for(lambda: broker_reachable(stack.amqp_url), timeout=30, what="the broker back")
    assert len(await db.pages_done(run_id)) < 20, "the import finished before the restart"
    queues = [
        f"{stack.prefix}.importer.pages",
        f"{stack.prefix}.mapper.records",
        f"{stack.prefix}.importer.runs",
    ]
    # Waits longer than the bound, so a slow return fails the bound with its time instead of the wait.
    took = await wait_consumers(stack.amqp_url, queues, timeout=3 * CONSUMERS_BACK_SECONDS)
    assert took < CONSUMERS_BACK_SECONDS, f"consumers took {took:.1f}s to come back after the restart"
    run = await api.wait_run(TENANT, run_id, timeout=90)
    await assert_exact(db, sim, cid, run)
    for p in procs.started:
        assert p.proc is not None
        assert p.proc.poll() is None, f"{p.name} died:\n{p.logs()[-2000:]}"


async def test_r8_cut_connection_through_proxy(
    stack: Stack, api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    """R8: every worker connection to RabbitMQ is cut twice mid-import; consumers are back within
    seconds, nothing acks on a dead channel, and the import completes exactly."""
    cid = await _import_setup(api, sim, company, 400)
    proxy = await TcpProxy("127.0.0.1", 5672).start()
    try:
        through = {"AMQP_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/"}
        settings = {"PAGE_SIZE": 20, "IRONCLAD_CONCURRENCY": 2, **through}
        await procs.start("importer", **settings)
        await procs.start("mapper", **settings)
        run_id = await api.start_import(TENANT)
        queues = [f"{stack.prefix}.importer.pages", f"{stack.prefix}.mapper.records"]
        for at_least in (3, 8):
            await wait_pages(db, run_id, at_least=at_least)
            cut = proxy.cut()
            assert cut >= 2, "both workers should have been connected through the proxy"
            started = time.monotonic()
            await wait_for(
                lambda: asyncio.sleep(0, proxy.live >= 2), timeout=3 * RECONNECT_SECONDS, what="reconnects"
            )
            await wait_consumers(stack.amqp_url, queues, timeout=3 * RECONNECT_SECONDS)
            took = time.monotonic() - started
            assert took < RECONNECT_SECONDS, f"consumers took {took:.1f}s to come back after the cut"
        assert len(await db.pages_done(run_id)) < 20, "the import finished before the second cut"
        run = await api.wait_run(TENANT, run_id, timeout=90)
        await assert_exact(db, sim, cid, run)
    finally:
        await proxy.stop()
    for p in procs.started:
        logs = p.logs()
        assert "unknown delivery tag" not in logs.lower(), f"{p.name} acked on a dead channel"
        assert "PRECONDITION_FAILED" not in logs, f"{p.name}: {logs[-2000:]}"
        assert p.proc is not None
        assert p.proc.poll() is None, f"{p.name} died"
