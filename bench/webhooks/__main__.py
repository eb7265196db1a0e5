"""Webhook benchmark: `python -m bench.webhooks` from the repository root.

(a) Receiver throughput and time to answer: signed deliveries (each a new event id) posted with fixed
    concurrency to the real gateway (a child process: verify the RSA signature, dedupe row in MongoDB,
    publish with the broker's confirm), against a bare aiohttp handler answering 200 in another child process,
    with the same client, bodies and concurrency in the same run. The ratio is receiver / bare.
(b) Freshness: the time from a change in the simulator (a record's contract status set) to the updated
    contract in MongoDB, through Ironclad's signed webhook, the gateway, RabbitMQ, the importer (which fetches
    the record from the simulator, 200 ms latency per call) and the mapper.

Everything runs on this one machine (simulator, services, RabbitMQ, MongoDB and the load generator share its
cores), so these are numbers for this machine, not production capacity. Results: bench/results/webhooks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.common import (
    LOGS,
    RESULTS,
    TENANT,
    USER,
    command_delta,
    log,
    machine,
    scrape_db_commands,
    services,
)
from tests.support.services import REPO, free_port, serve

OUT = RESULTS / "webhooks.json"
BARE_SERVER = """
import sys
from aiohttp import web

async def ok(request):
    await request.read()
    return web.json_response({"status": "accepted"})

app = web.Application()
app.router.add_post("/webhooks/ironclad/{tenant}", ok)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(pct(values, 50) * 1000, 2),
        "p90_ms": round(pct(values, 90) * 1000, 2),
        "p99_ms": round(pct(values, 99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2) if values else float("nan"),
        "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else float("nan"),
    }


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]


def make_deliveries(state: Any, company_id: str, n: int) -> list[Delivery]:
    """Signed like Ironclad signs them; payloads name no record, so the importer has nothing to fetch."""
    import secrets
    import uuid

    from ironclad_simulator.webhooks import sign

    company = state.companies[company_id]
    out = []
    for i in range(n):
        event_id = "webhookEvent" + uuid.uuid4().hex
        envelope = {
            "companyID": company_id,
            "payload": {"event": "workflow_comment_added", "commentID": f"c{i}"},
            "timestamp": "2026-01-01T00:00:00.000Z",
            "webhookID": "bench",
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        nonce = secrets.token_hex(8)
        verification = {
            "nonce": nonce,
            "signAlgorithm": "sha256",
            "signature": sign(company, event_id, body, nonce),
            "encoding": "base64",
        }
        headers = {
            "Content-Type": "application/json",
            "X-Ironclad-Webhook-Event-Id": event_id,
            "X-Ironclad-Webhook-Verification": json.dumps(verification, separators=(",", ":")),
        }
        out.append(Delivery(body, headers))
    return out


async def load(
    url: str, deliveries: list[Delivery], concurrency: int, seconds: float, *, cycle: bool
) -> dict[str, Any]:
    """Post `deliveries` with `concurrency` workers for at most `seconds` (cycling if `cycle`)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    source = itertools.cycle(deliveries) if cycle else iter(deliveries)
    connector = aiohttp.TCPConnector(limit=concurrency)
    started = time.perf_counter()
    deadline = started + seconds
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for delivery in source:
                if time.perf_counter() >= deadline:
                    return
                t0 = time.perf_counter()
                async with session.post(url, data=delivery.body, headers=delivery.headers) as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - t0)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "per_second": round(len(latencies) / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        **summary_ms(latencies),
    }


def _per(commands: dict[str, dict[str, float]], deliveries: int) -> dict[str, float]:
    """Round trips per delivery by service, counted while the deliveries were being answered (the
    importer's work for the events included, as far as it kept up)."""
    return {
        service: round(sum(by_command.values()) / max(deliveries, 1), 3)
        for service, by_command in commands.items()
    }


async def throughput(
    world: Any, state: Any, company_id: str, n: int, concurrency: int, seconds: float
) -> dict[str, Any]:
    port = free_port()
    LOGS.mkdir(parents=True, exist_ok=True)
    bare = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BARE_SERVER, str(port), cwd=REPO, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        bare_url = f"http://127.0.0.1:{port}/webhooks/ironclad/{TENANT}"
        for _ in range(100):
            try:
                async with aiohttp.ClientSession() as s, s.post(bare_url, data=b"{}") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        receiver_url = f"{world.api.base}/webhooks/ironclad/{TENANT}"
        log(f"signing {n + 100} deliveries")
        warm = await asyncio.to_thread(make_deliveries, state, company_id, 100)
        batch = await asyncio.to_thread(make_deliveries, state, company_id, n)
        await load(receiver_url, warm, concurrency, 10, cycle=False)  # key fetch, connection pools
        await load(bare_url, warm, concurrency, 2, cycle=True)
        log(f"load: up to {n} deliveries or {seconds} s each, concurrency {concurrency}")
        bare_result = await load(bare_url, batch, concurrency, seconds, cycle=True)
        before = await scrape_db_commands(world, gateway=True)
        receiver_result = await load(receiver_url, batch, concurrency, seconds, cycle=False)
        receiver_result["database_round_trips_per_delivery"] = _per(
            command_delta(before, await scrape_db_commands(world, gateway=True)), receiver_result["requests"]
        )
        # Deliveries already handed off, again: the dedupe path.
        done = batch[: receiver_result["requests"]]
        before = await scrape_db_commands(world, gateway=True)
        duplicate_result = await load(receiver_url, done, concurrency, seconds / 2, cycle=False)
        duplicate_result["database_round_trips_per_delivery"] = _per(
            command_delta(before, await scrape_db_commands(world, gateway=True)), duplicate_result["requests"]
        )
    finally:
        bare.terminate()
        await bare.wait()
    return {
        "signed_deliveries_available": n,
        "concurrency": concurrency,
        "bare_aiohttp_200": bare_result,
        "receiver": receiver_result,
        "receiver_duplicates": duplicate_result,
        "ratio_per_second": round(receiver_result["per_second"] / bare_result["per_second"], 3),
        "ratio_p50": round(receiver_result["p50_ms"] / bare_result["p50_ms"], 2),
        "ratio_p99": round(receiver_result["p99_ms"] / bare_result["p99_ms"], 2),
    }


async def freshness(
    world: Any, sim_url: str, company_id: str, records: list[dict[str, Any]], changes: int, latency_ms: float
) -> dict[str, Any]:
    from pymongo import AsyncMongoClient

    from ironclad_simulator.control import SimulatorControl

    client: AsyncMongoClient[Any] = AsyncMongoClient(world.stack.mongodb_url)
    contracts = client[world.stack.database].contracts
    results: list[float] = []
    missed = 0
    async with aiohttp.ClientSession() as http:
        control = SimulatorControl(sim_url, http)
        await control.set_config(latency_ms=latency_ms)
        rng = random.Random(11)

        async def one(record: dict[str, Any], status: str) -> None:
            nonlocal missed
            t0 = time.perf_counter()
            changed = await control.set_record_status(company_id, record["id"], status)
            want = changed["record"]["lastUpdated"]
            deadline = t0 + 30
            while time.perf_counter() < deadline:
                doc = await contracts.find_one(
                    {"tenant": TENANT, "ironclad.id": record["id"]}, {"ironclad.lastUpdated": 1}
                )
                if doc is not None and doc["ironclad"]["lastUpdated"] == want:
                    results.append(time.perf_counter() - t0)
                    return
                await asyncio.sleep(0.01)
            missed += 1

        tasks = []
        picks = rng.sample(records, min(changes, len(records)))
        for i, record in enumerate(picks):
            tasks.append(asyncio.create_task(one(record, "expired" if i % 2 else "active")))
            await asyncio.sleep(rng.expovariate(1 / 0.3))  # a change every 0.3 s on average
        await asyncio.gather(*tasks)
        await control.set_config(latency_ms=0)
    await client.close()
    return {
        "changes": len(picks),
        "updated_in_mongodb": len(results),
        "missed_after_30s": missed,
        "simulated_ironclad_latency_ms": latency_ms,
        **summary_ms(results),
    }


async def main(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    from contracts_common.ironclad import ALL_SCOPES
    from ironclad_simulator.app import create_app
    from ironclad_simulator.control import SimulatorControl
    from ironclad_simulator.state import SimConfig, SimulatorState

    # The simulator runs in this process: the benchmark signs deliveries with the company's private key.
    state = SimulatorState(config=SimConfig(allow_http_targets=True, webhook_retry_base_seconds=1.0))
    async with serve(create_app(state)) as sim_url:
        state.base_url = sim_url  # type: ignore[attr-defined]

        class _Sim:
            url = sim_url

        importer_env = {"EVENT_COALESCE_SECONDS": str(args.coalesce), "ALLOW_HTTP_WEBHOOK_TARGET": "true"}
        async with services(_Sim(), importer_env=importer_env) as world, aiohttp.ClientSession() as http:  # type: ignore[arg-type]
            control = SimulatorControl(sim_url, http)
            company = await control.create_company(users=[USER], apps=[{"scopes": list(ALL_SCOPES)}])
            cid = company["company_id"]
            await control.seed(cid, count=args.records, seed=5)
            answer = await world.api.connect(TENANT, company["apps"][0], USER)
            assert answer.status == 200, answer
            run_id = await world.api.start_import(TENANT)
            run = await world.api.wait_run(TENANT, run_id, timeout=60)
            assert run["status"] == "succeeded", run
            enabled = await world.api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/automatic-sync")
            assert enabled.status == 200, enabled
            log("throughput phase")
            result["throughput"] = await throughput(
                world, state, cid, args.deliveries, args.concurrency, args.seconds
            )
            log("freshness phase")
            records = await control.list_records(cid)
            result["freshness"] = await freshness(world, sim_url, cid, records, args.changes, args.latency_ms)
    return result


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=12000, help="signed deliveries prepared")
    parser.add_argument("--seconds", type=float, default=12.0, help="load duration per target")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--records", type=int, default=60)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument(
        "--coalesce", type=float, default=0.1, help="EVENT_COALESCE_SECONDS of the importer (its default)"
    )
    parser.add_argument("--budget", type=float, default=115.0, help="seconds before the benchmark gives up")
    args = parser.parse_args()
    started = time.monotonic()
    result: dict[str, Any] = {
        "benchmark": "webhooks",
        "machine": machine(),
        "settings": {
            "event_coalesce_seconds": args.coalesce,
            "records": args.records,
            "note": "everything on one machine; the load generator shares the cores",
        },
    }
    try:
        asyncio.run(asyncio.wait_for(main(args, result), args.budget))
    except TimeoutError:
        result["error"] = f"did not finish within the budget of {args.budget} s; partial results"
    result["wall_seconds"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    cli()
