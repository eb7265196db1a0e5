"""Import benchmark: `python -m bench.import_bench [--records N] [--quick]`.

(a) records/s end to end with rate limits off: gateway, importer and mapper as real child processes, the
    import started through the admin API, timed until the run is terminal and every contract is in MongoDB;
(b) the same work by a naive baseline (one sequential loop: pageSize 100, a plain `update_one` per record,
    documents streamed into GridFS one after another), as a ratio;
(c) Ironclad's real limits (600 GET records/min, ...) and 200 ms latency: share of the rate budget used
    and the number of 429s over a bounded window (the full import is not run at real limits);
(d) peak RSS (VmHWM from /proc) of the importer and the mapper.

The simulator is seeded with N records, 20 % of them with a document of 50 KB-2 MB. Results go to
stdout and bench/results/import.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import time
from typing import Any

import aiohttp

from bench.common import (
    DOC_MAX,
    DOC_MIN,
    DOC_RATIO,
    TENANT,
    MemorySampler,
    command_delta,
    connect,
    count_contracts,
    db_probe,
    log,
    new_company,
    save_json,
    scrape_db_commands,
    scrape_latency,
    service_urls,
    services,
    simulator,
    wait_terminal,
)
from tests.support.services import drop_test_database

LIMITS_OFF = {"RATE_LIMIT_ENABLED": "false"}


async def _controller(session: aiohttp.ClientSession, url: str) -> Any:
    from ironclad_simulator.control import SimulatorControl

    return SimulatorControl(url, session)


async def pipeline_import(
    records: int,
    *,
    importers: int = 1,
    latency_ms: float = 0.0,
    timeout: float = 900.0,
    document_ratio: float = DOC_RATIO,
    label: str = "import",
    importer_env: dict[str, str] | None = None,
    mappers: int = 1,
    shared_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Import `records` records end to end with rate limits off; time, counters, memory, latencies."""
    probe = await db_probe()
    async with simulator() as sim, aiohttp.ClientSession() as session:
        ctl = await _controller(session, sim.url)
        await ctl.set_config(rate_limits_enabled=False, latency_ms=latency_ms)
        company = await new_company(ctl, records, document_ratio=document_ratio)
        env = {**LIMITS_OFF, **(importer_env or {})}
        async with services(
            sim, importers=importers, mappers=mappers, importer_env=env, shared_env=shared_env
        ) as world:
            await connect(world, company)
            sampler = MemorySampler(world.procs())
            sampler.start()
            log(f"{label}: importing {records} records with {importers} importer(s), latency {latency_ms} ms")
            commands_before = await scrape_db_commands(world)
            t0 = time.monotonic()
            run_id = await world.api.start_import(TENANT)
            run = await wait_terminal(world, run_id, timeout)
            stored = await count_contracts(world)
            deadline = time.monotonic() + 30
            while stored < records and time.monotonic() < deadline and run["status"] in ("succeeded",):
                await asyncio.sleep(0.25)
                stored = await count_contracts(world)
            elapsed = time.monotonic() - t0
            peaks = sampler.peaks_mb()
            await sampler.stop()
            latency = await scrape_latency(world)
            commands = command_delta(commands_before, await scrape_db_commands(world))
            stats = await ctl.company_stats(company["company_id"])
    round_trips = {service: sum(c.values()) for service, c in commands.items()}
    result = {
        "label": label,
        "db_probe_upserts_per_second": probe,
        "records": records,
        "importers": importers,
        "mappers": mappers,
        "latency_ms": latency_ms,
        "document_ratio": document_ratio,
        "seconds": round(elapsed, 2),
        "stored": stored,
        "records_per_second": round(stored / elapsed, 1),
        "status": run["status"],
        "run": {
            k: run.get(k)
            for k in (
                "fetched",
                "created",
                "updated",
                "failed",
                "documents_downloaded",
                "documents_failed",
                "error",
            )
        },
        "peak_rss_mb": peaks,
        "rss_samples": sampler.samples,
        "ironclad_latency_buckets": latency,
        "ironclad_requests": sum(stats["requests"].values()),
        "ironclad_429": sum(stats["rate_limited"].values()),
        "db_commands": commands,
        "db_round_trips": round_trips,
        "db_round_trips_per_record": round(sum(round_trips.values()) / max(stored, 1), 2),
    }
    log(
        f"{label}: {sum(round_trips.values()):.0f} database round trips ="
        f" {result['db_round_trips_per_record']}/record {commands}"
    )
    log(
        f"{label}: {stored} stored in {elapsed:.1f}s = {result['records_per_second']} rec/s,"
        f" status {run['status']}, peak RSS {peaks}"
    )
    return result


async def naive_baseline(records: int, *, timeout: float = 900.0) -> dict[str, Any]:
    """One loop, one request at a time: list pages of 100, update_one per record, documents into GridFS."""
    from gridfs import AsyncGridFSBucket
    from pymongo import AsyncMongoClient

    from contracts_common.mapping import DEFAULT_RULES_WITHOUT_METADATA, compile_mapping
    from importer.documents import document_keys

    mapping = compile_mapping(list(DEFAULT_RULES_WITHOUT_METADATA))
    _, mongo = service_urls()
    dbname = "benchnaive" + os.urandom(4).hex()
    probe = await db_probe()
    lat: dict[str, list[float]] = {"list_page": [], "download": [], "update_one": [], "gridfs_write": []}
    async with simulator() as sim, aiohttp.ClientSession() as session:
        ctl = await _controller(session, sim.url)
        await ctl.set_config(rate_limits_enabled=False, latency_ms=0)
        company = await new_company(ctl, records)
        app = company["apps"][0]
        async with session.post(
            f"{sim.url}/oauth/token",
            json={
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        ) as resp:
            token = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "x-as-user-email": company["users"][0]["email"]}
        client: AsyncMongoClient[Any] = AsyncMongoClient(mongo, tz_aware=True)
        db = client[dbname]
        await db.contracts.create_index([("tenant", 1), ("ironclad.id", 1)], unique=True)
        bucket = AsyncGridFSBucket(db, bucket_name="documents")
        api = f"{sim.url}/public/api/v1"
        log(f"naive: {records} records, sequential")
        t0 = time.monotonic()
        done = docs = 0
        page = 0
        capped = False
        try:
            while True:
                ts = time.monotonic()
                async with session.get(
                    f"{api}/records",
                    headers=headers,
                    params={
                        "page": str(page),
                        "pageSize": "100",
                        "sortField": "lastUpdated",
                        "sortDirection": "DESC",
                    },
                ) as resp:
                    resp.raise_for_status()
                    body = await resp.json()
                lat["list_page"].append(time.monotonic() - ts)
                for record in body["list"]:
                    attachments = []
                    for key in document_keys(record):
                        ts = time.monotonic()
                        digest, size = hashlib.sha256(), 0
                        async with session.get(
                            f"{api}/records/{record['id']}/attachments/{key}", headers=headers
                        ) as resp:
                            resp.raise_for_status()
                            upload = bucket.open_upload_stream(key, metadata={"record_id": record["id"]})
                            async for chunk in resp.content.iter_chunked(256 * 1024):
                                digest.update(chunk)
                                size += len(chunk)
                                tw = time.monotonic()
                                await upload.write(chunk)
                                lat["gridfs_write"].append(time.monotonic() - tw)
                            await upload.close()
                        lat["download"].append(time.monotonic() - ts)
                        attachments.append(
                            {"key": key, "file_id": upload._id, "size": size, "sha256": digest.hexdigest()}
                        )
                        docs += 1
                    mapped = mapping.apply(record)
                    ts = time.monotonic()
                    await db.contracts.update_one(
                        {"tenant": TENANT, "ironclad.id": record["id"]},
                        {
                            "$set": {
                                "raw": record,
                                "fields": mapped.fields,
                                "attachments": attachments,
                                "ironclad": {"id": record["id"], "lastUpdated": record["lastUpdated"]},
                            }
                        },
                        upsert=True,
                    )
                    lat["update_one"].append(time.monotonic() - ts)
                    done += 1
                    if time.monotonic() - t0 > timeout:
                        break
                if time.monotonic() - t0 > timeout:
                    capped = done < records
                    break
                if (page + 1) * 100 >= body["count"] or not body["list"]:
                    break
                page += 1
            elapsed = time.monotonic() - t0
        finally:
            await drop_test_database(client, dbname)
            await client.close()
    result = {
        "db_probe_upserts_per_second": probe,
        "records": records,
        "stored": done,
        "documents": docs,
        "seconds": round(elapsed, 2),
        "records_per_second": round(done / elapsed, 1),
        "capped": capped,
        "latencies": lat,
    }
    log(f"naive: {done} stored ({docs} documents) in {elapsed:.1f}s = {result['records_per_second']} rec/s")
    return result


def _bucket_of(key: str) -> str:
    from ironclad_simulator.app import bucket_for

    method, _, template = key.partition(" ")
    return bucket_for(method, template)


async def real_limits_window(
    records: int, *, window: float = 90.0, latency_ms: float = 200.0
) -> dict[str, Any]:
    """Ironclad's limits on in the simulator and in our importer; sample the simulator's counters."""
    probe = await db_probe()
    async with simulator() as sim, aiohttp.ClientSession() as session:
        ctl = await _controller(session, sim.url)
        await ctl.set_config(rate_limits_enabled=True, latency_ms=latency_ms)
        cfg = await ctl.get_config()
        limits: dict[str, int] = cfg["rate_limits"]
        company = await new_company(ctl, records)
        cid = company["company_id"]
        async with services(sim) as world:
            await connect(world, company)
            await ctl.reset_stats()
            log(
                f"limits: real limits {limits['records_read']} GET records/min, {latency_ms} ms latency, "
                f"{window:.0f} s window"
            )
            t0 = time.monotonic()
            run_id = await world.api.start_import(TENANT)
            timeline: list[dict[str, Any]] = []
            while (now := time.monotonic() - t0) < window:
                stats = await ctl.company_stats(cid)
                by_bucket: dict[str, int] = {}
                for key, n in stats["requests"].items():
                    b = _bucket_of(key)
                    by_bucket[b] = by_bucket.get(b, 0) + n
                timeline.append(
                    {"t": round(now, 2), "requests": by_bucket, "rate_limited": stats["rate_limited"]}
                )
                await asyncio.sleep(2.0)
            stats = await ctl.company_stats(cid)
            elapsed = time.monotonic() - t0
            run = await world.api.run(TENANT, run_id)
            stored = await count_contracts(world)
            latency = await scrape_latency(world)
    totals: dict[str, int] = {}
    for key, n in stats["requests"].items():
        b = _bucket_of(key)
        totals[b] = totals.get(b, 0) + n
    limited = {k: int(v) for k, v in stats["rate_limited"].items()}
    read_sent = totals.get("records_read", 0)
    read_429 = limited.get("records_read", 0)
    accepted_per_min = (read_sent - read_429) / elapsed * 60
    # The simulator enforces a sliding 60 s window; the busiest 60 s is what its limit is checked against.
    busiest = 0
    for i, row in enumerate(timeline):
        for later in timeline[i:]:
            if later["t"] - row["t"] <= 60.0:
                sent = later["requests"].get("records_read", 0) - row["requests"].get("records_read", 0)
                rl = later["rate_limited"].get("records_read", 0) - row["rate_limited"].get("records_read", 0)
                busiest = max(busiest, sent - rl)
    result = {
        "db_probe_upserts_per_second": probe,
        "records_seeded": records,
        "window_seconds": round(elapsed, 1),
        "latency_ms": latency_ms,
        "limit_records_read_per_min": limits["records_read"],
        "records_read_requests": read_sent,
        "records_read_per_min": round(accepted_per_min, 1),
        "budget_share": round(accepted_per_min / limits["records_read"], 3),
        "busiest_60s_accepted": busiest if elapsed >= 60 else None,
        "requests_by_bucket": totals,
        "rate_limited": limited,
        "total_429": sum(limited.values()),
        "records_stored_in_window": stored,
        "records_per_second_in_window": round(stored / elapsed, 1),
        "run_status_at_end": run["status"],
        "timeline": timeline,
        "ironclad_latency_buckets": latency,
    }
    log(
        f"limits: {accepted_per_min:.0f} GET records/min of {limits['records_read']} "
        f"({result['budget_share']:.0%}), {result['total_429']} x 429, {stored} records stored"
    )
    return result


def summary(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if a := data.get("pipeline"):
        out["pipeline_records_per_second"] = a["records_per_second"]
        out["pipeline_status"] = a["status"]
        out["peak_rss_mb"] = a["peak_rss_mb"]
    if (b := data.get("naive")) and a:
        out["naive_records_per_second"] = b["records_per_second"]
        out["pipeline_vs_naive"] = round(a["records_per_second"] / b["records_per_second"], 2)
    if c := data.get("limits"):
        out.update({k: c[k] for k in ("records_read_per_min", "budget_share", "total_429", "window_seconds")})
    return out


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    records = args.records or (1_000 if args.quick else 10_000)
    window = args.window or (45.0 if args.quick else 90.0)
    data: dict[str, Any] = {
        "records": records,
        "document_ratio": DOC_RATIO,
        "document_bytes": [DOC_MIN, DOC_MAX],
    }
    data["pipeline"] = await pipeline_import(records, timeout=args.timeout)
    if not args.skip_baseline:
        data["naive"] = await naive_baseline(records, timeout=args.timeout)
    if not args.skip_limits:
        data["limits"] = await real_limits_window(max(records, 5_000), window=window)
    data["summary"] = summary(data)
    return data


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.import_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--records", type=int, default=None, help="records to seed (default 10000; 1000 with --quick)"
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 1000 records, 45 s rate-limit window")
    p.add_argument(
        "--window", type=float, default=None, help="seconds under real limits (default 90; 45 quick)"
    )
    p.add_argument("--timeout", type=float, default=900.0, help="cap per import/baseline run, seconds")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--skip-limits", action="store_true")
    return p


def main() -> None:
    args = parser().parse_args()
    data = asyncio.run(main_async(args))
    path = save_json("import.json", data)
    print(json.dumps(data["summary"], indent=2))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
