"""Issue 14: a three-node RabbitMQ cluster with two importers, two mappers (processes) and the
gateway; the node leading the work queues is stopped mid-import, and mid-burst of webhooks."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from typing import Any

import aiohttp
import pytest

from tests.fault.cluster.conftest import cluster
from tests.fault.support import TENANT, Mongo, Workers, assert_exact, connect, wait_consumers, wait_pages
from tests.support.api import AdminApi
from tests.support.services import Stack

pytestmark = pytest.mark.fault


def leaders(prefix: str) -> dict[str, str]:
    """Queue name -> the node leading it, for the stack's quorum queues."""
    done = subprocess.run(
        [
            "runuser", "-u", "rabbitmq", "--", "env", "HOME=/var/lib/rabbitmq",
            "rabbitmqctl", "-n", "ctest1@localhost", "-q", "list_queues", "name", "leader",
            "--formatter", "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    return {q["name"]: q["leader"] for q in json.loads(done.stdout) if q["name"].startswith(prefix)}


async def _stop_leader_of(stack: Stack, suffix: str) -> str:
    leader = leaders(stack.prefix)[f"{stack.prefix}.{suffix}"]
    number = leader.split("@")[0].removeprefix("ctest")
    await asyncio.to_thread(cluster, "stop-node", number)
    return leader


async def test_the_leader_of_the_work_queues_dies_mid_import(
    api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any], stack: Stack
) -> None:
    """R4 and R16 through a failover: no confirmed message lost, the import exact, consumers back on
    the surviving nodes within seconds."""
    cid = company["company_id"]
    await sim.seed(cid, count=400, seed=14, document_ratio=0.1, max_document_bytes=20_000)
    await sim.set_config(latency_ms=40)
    await connect(api, company)
    settings = {"PAGE_SIZE": 10, "IRONCLAD_CONCURRENCY": 2}
    for name in ("importer", "importer", "mapper", "mapper"):
        await procs.start(name, **settings)
    run_id = await api.start_import(TENANT)
    await wait_pages(db, run_id, at_least=5, timeout=60)
    stopped_at = time.monotonic()
    leader = await _stop_leader_of(stack, "importer.pages")
    queues = [f"{stack.prefix}.{s}" for s in ("importer.pages", "mapper.records")]
    back = await wait_consumers(stack.amqp_url, queues, timeout=60)
    pages_before = len(await db.pages_done(run_id))
    await wait_pages(db, run_id, at_least=pages_before + 1, timeout=60)
    progressed = time.monotonic() - stopped_at
    run = await api.wait_run(TENANT, run_id, timeout=180)
    await assert_exact(db, sim, cid, run)
    assert back < 30, f"consumers took {back:.1f} s to come back after {leader} stopped"
    print(f"failover after {leader} stopped: consumers {back:.2f} s, import moving {progressed:.2f} s")


async def test_the_leader_of_the_event_queue_dies_mid_burst_over_two_gateways(
    api: AdminApi, procs: Workers, db: Mongo, sim: Any, simulator: Any, company: dict[str, Any], stack: Stack
) -> None:
    """Every delivery answered 200 was handed off and its work done; nothing is answered 2xx without
    a confirmed publish, whichever node dies."""
    from tests.integration.automatic_sync.webhook_support import envelope, post, signed
    from tests.support.services import wait_for

    cid = company["company_id"]
    await sim.seed(cid, count=80, seed=15, document_ratio=0.0)
    await connect(api, company)
    enabled = await api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/automatic-sync")
    assert enabled.status == 200, enabled.body
    for name in ("importer", "importer", "mapper", "mapper"):
        await procs.start(name)
    ports = await _two_gateways(procs)
    records = [r["id"] for r in await sim.list_records(cid)]
    answers: dict[str, int] = {}

    async def deliver(index: int, record_id: str) -> None:
        body = envelope(cid, "record_contract_status_changed", {"recordID": record_id})
        _, headers = signed(simulator, cid, body)
        url = f"http://127.0.0.1:{ports[index % 2]}/webhooks/ironclad/{TENANT}"
        for _attempt in range(20):  # as Ironclad does: retry what was not answered 200
            status = await post(http, url, body, headers)
            if status == 200:
                break
            await asyncio.sleep(0.25)
        answers[record_id] = status

    async with aiohttp.ClientSession() as http:
        burst = [asyncio.create_task(deliver(i, rid)) for i, rid in enumerate(records)]
        await asyncio.sleep(0.3)
        leader = await _stop_leader_of(stack, "importer.events")
        await asyncio.gather(*burst)
    accepted = [rid for rid, status in answers.items() if status == 200]
    assert len(accepted) == len(records), (
        f"{len(records) - len(accepted)} never accepted after {leader} stopped"
    )

    async def all_stored() -> bool:
        stored = await db.db.contracts.count_documents({"tenant": TENANT, "ironclad.id": {"$in": accepted}})
        return int(stored) == len(accepted)

    await wait_for(all_stored, timeout=90, what="a contract for every accepted delivery")
    await assert_exact(db, sim, cid)


async def _two_gateways(procs: Workers) -> list[int]:
    """Two more gateway processes of this world; returns their ports once both are ready."""
    from tests.support.services import ServiceProcess, free_port, wait_for

    ports = [free_port(), free_port()]
    for port in ports:
        gateway = ServiceProcess("gateway", procs.env(GATEWAY_PORT=port), procs.log_dir).start()
        procs.started.append(gateway)  # killed at teardown with the others
    async with aiohttp.ClientSession() as probe:

        async def ready() -> bool:
            for port in ports:
                try:
                    async with probe.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status != 200:
                            return False
                except aiohttp.ClientError:
                    return False
            return True

        await wait_for(ready, timeout=30, what="both gateways ready")
    return ports


async def test_one_event_delivered_to_both_gateways_at_once_is_one_piece_of_work(
    api: AdminApi, procs: Workers, db: Mongo, sim: Any, simulator: Any, company: dict[str, Any]
) -> None:
    from tests.integration.automatic_sync.webhook_support import envelope, post, signed
    from tests.support.services import wait_for

    cid = company["company_id"]
    await sim.seed(cid, count=20, seed=16, document_ratio=0.0)
    await connect(api, company)
    enabled = await api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/automatic-sync")
    assert enabled.status == 200, enabled.body
    for name in ("importer", "importer", "mapper"):
        await procs.start(name, EVENT_COALESCE_SECONDS=0.05)
    ports = await _two_gateways(procs)
    records = [r["id"] for r in await sim.list_records(cid)]
    async with aiohttp.ClientSession() as http:
        for record_id in records:
            body = envelope(cid, "record_contract_status_changed", {"recordID": record_id})
            event_id, _ = signed(simulator, cid, body)
            # The same event at both gateways at the same moment, each delivery with its own nonce.
            statuses = await asyncio.gather(
                *(
                    post(http, f"http://127.0.0.1:{port}/webhooks/ironclad/{TENANT}", body, headers)
                    for port, (_, headers) in zip(
                        ports, (signed(simulator, cid, body, event_id) for _ in ports), strict=True
                    )
                )
            )
            assert set(statuses) == {200}, statuses

    async def synced() -> list[dict[str, Any]] | None:
        runs = [r async for r in db.db.runs.find({"tenant": TENANT, "kind": "webhook"})]
        done = all(r["status"] not in ("queued", "running") for r in runs)
        stored = await db.db.contracts.count_documents({"tenant": TENANT})
        return runs if done and stored == len(records) else None

    runs = await wait_for(synced, timeout=60, what="every event synced")
    await asyncio.sleep(2)  # a duplicate's work, were there one, would have started by now
    runs = [r async for r in db.db.runs.find({"tenant": TENANT, "kind": "webhook"})]
    # One record fetched per event: no event was worked on twice, whichever gateway took it.
    assert sum(r["fetched"] for r in runs) == len(records), [(r["fetched"], r["status"]) for r in runs]
