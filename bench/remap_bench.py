"""Re-map benchmark: `python -m bench.remap_bench [--contracts N] [--quick]`.

Stores N contracts (default 10,000) directly in MongoDB in the shape `contracts_common/storage/contracts.py`
writes (raw records listed from the simulator, fields from the default mapping, mapping_version 0), then PUTs
a new field mapping through the admin API and times the remap run the mapper works through, from the PUT to
the terminal run. Results go to stdout and bench/results/remap.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import aiohttp

from bench.common import (
    TENANT,
    MemorySampler,
    connect,
    db_probe,
    log,
    new_company,
    save_json,
    services,
    simulator,
    wait_terminal,
)


async def _list_all(
    sim_url: str, session: aiohttp.ClientSession, company: dict[str, Any]
) -> list[dict[str, Any]]:
    app = company["apps"][0]
    async with session.post(
        f"{sim_url}/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    ) as resp:
        token = (await resp.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "x-as-user-email": company["users"][0]["email"]}
    out: list[dict[str, Any]] = []
    page = 0
    while True:
        async with session.get(
            f"{sim_url}/public/api/v1/records",
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
        out.extend(body["list"])
        if (page + 1) * 100 >= body["count"] or not body["list"]:
            return out
        page += 1


def contract_document(
    record: dict[str, Any], fields: dict[str, Any], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """What `Contracts.upsert_record` inserts for a new record with no documents."""
    from contracts_common.storage.contracts import ironclad_summary, parse_timestamp
    from contracts_common.timeutil import utcnow

    now = utcnow()
    return {
        "tenant": TENANT,
        "ironclad": ironclad_summary(record),
        "source_last_updated": parse_timestamp(record["lastUpdated"]),
        "raw": record,
        "fields": fields,
        "field_errors": errors,
        "mapping_version": 0,
        "document_failures": [],
        "deleted": False,
        "deleted_at": None,
        "updated_at": now,
        "last_run_id": None,
        "created_at": now,
        "attachments": [],
    }


async def remap(contracts: int, *, timeout: float = 600.0) -> dict[str, Any]:
    from pymongo import AsyncMongoClient

    from contracts_common.mapping import DEFAULT_RULES_WITHOUT_METADATA, compile_mapping
    from ironclad_simulator.control import SimulatorControl
    from mapper.handlers import error_dict

    mapping = compile_mapping(list(DEFAULT_RULES_WITHOUT_METADATA))
    probe = await db_probe()
    async with simulator() as sim, aiohttp.ClientSession() as session:
        ctl = SimulatorControl(sim.url, session)
        await ctl.set_config(rate_limits_enabled=False)
        company = await new_company(ctl, contracts, document_ratio=0.0)
        records = await _list_all(sim.url, session, company)
        async with services(sim, importer_env={"RATE_LIMIT_ENABLED": "false"}) as world:
            await connect(world, company)
            client: AsyncMongoClient[Any] = AsyncMongoClient(world.stack.mongodb_url, tz_aware=True)
            db = client[world.stack.database]
            log(f"remap: storing {len(records)} contracts directly")
            ts = time.monotonic()
            batch: list[dict[str, Any]] = []
            for record in records:
                mapped = mapping.apply(record)
                batch.append(contract_document(record, mapped.fields, [error_dict(e) for e in mapped.errors]))
                if len(batch) == 500:
                    await db.contracts.insert_many(batch, ordered=False)
                    batch = []
            if batch:
                await db.contracts.insert_many(batch, ordered=False)
            seed_seconds = time.monotonic() - ts
            stored = await db.contracts.count_documents({"tenant": TENANT})
            current = await world.api.call("GET", f"/api/v1/tenants/{TENANT}/field-mapping")
            rules = list(current.body["rules"])
            # A real change: the counterparty name is now trimmed and upper-cased.
            for rule in rules:
                if rule.get("target") == "counterparty_name":
                    rule["transform"] = ["trim", {"kind": "case", "mode": "upper"}]
            sampler = MemorySampler({"mapper": world.mappers[0]})
            sampler.start()
            log(f"remap: PUT field-mapping, re-mapping {stored} contracts")
            t0 = time.monotonic()
            answer = await world.api.call("PUT", f"/api/v1/tenants/{TENANT}/field-mapping", {"rules": rules})
            if answer.status != 200 or not answer.body.get("remap_run_id"):
                raise RuntimeError(f"PUT field-mapping failed: {answer}")
            run = await wait_terminal(world, answer.body["remap_run_id"], timeout, interval=0.25)
            elapsed = time.monotonic() - t0
            version = answer.body["version"]
            remapped = await db.contracts.count_documents({"tenant": TENANT, "mapping_version": version})
            peaks = sampler.peaks_mb()
            await sampler.stop()
            ceiling = await _raw_bulk_ceiling(db, mapping)
            await client.close()
    result = {
        "db_probe_upserts_per_second": probe,
        "contracts": stored,
        "seed_seconds": round(seed_seconds, 1),
        "seed_inserts_per_second": round(stored / seed_seconds, 1),
        "seconds": round(elapsed, 2),
        "remapped": remapped,
        "contracts_per_second": round(remapped / elapsed, 1),
        "status": run["status"],
        "run": {k: run.get(k) for k in ("fetched", "updated", "unchanged", "failed", "error")},
        "mapper_peak_rss_mb": peaks.get("mapper"),
        "raw_bulk_write_per_second": ceiling,
        "share_of_raw_bulk_write": round(remapped / elapsed / ceiling, 2) if ceiling else None,
    }
    log(
        f"remap: {remapped} re-mapped in {elapsed:.1f}s = {result['contracts_per_second']} contracts/s "
        f"({run['status']})"
    )
    return result


async def _raw_bulk_ceiling(db: Any, mapping: Any) -> float:
    """The re-map's ceiling on this server: the same contracts re-mapped and written by one
    `bulk_write` per 200 (the mapper's batch), straight from this process, no queue, no counters."""
    from pymongo import UpdateOne

    from mapper.handlers import error_dict

    docs = [d async for d in db.contracts.find({"tenant": TENANT}, {"raw": 1}).sort("ironclad.id", 1)]
    t0 = time.monotonic()
    for start in range(0, len(docs), 200):
        updates = []
        for doc in docs[start : start + 200]:
            mapped = mapping.apply(doc["raw"])
            errors = [error_dict(e) for e in mapped.errors]
            updates.append(
                UpdateOne(
                    {"_id": doc["_id"]},
                    {"$set": {"fields": mapped.fields, "field_errors": errors, "mapping_version": -1}},
                )
            )
        await db.contracts.bulk_write(updates, ordered=False)
    rate = len(docs) / (time.monotonic() - t0)
    log(f"remap: raw bulk_write of the same {len(docs)} contracts: {rate:.1f}/s")
    return round(rate, 1)


def main() -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.remap_bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--contracts", type=int, default=None, help="stored contracts (default 10000; 1000 quick)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--timeout", type=float, default=600.0)
    args = p.parse_args()
    data = asyncio.run(remap(args.contracts or (1_000 if args.quick else 10_000), timeout=args.timeout))
    save_json("remap.json", data)
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
