"""Soak: the system as production runs it, for a bounded time, then checked record for record.

    python -m bench.soak [--minutes 10]

Two importers and two mappers with their schedulers on (compressed intervals), the gateway receiving
Ironclad's webhooks, Automatic Sync on. For the duration, people work in the simulator: status
changes (Ironclad sends a webhook), property edits (no webhook: the incremental pass brings them),
creations and deletions (the reconciliation sees those). Midway one importer is killed with SIGKILL and
started again. Then the traffic stops, the system gets one reconciliation interval to settle, and:

- MongoDB equals Ironclad record for record (every live record at its newest version);
- no live record is marked deleted, and every deleted record that had been imported is;
- every run is terminal, with counters that add up;
- Ironclad requests: expected (what the intervals and the changes explain) against actual.

Writes bench/results/soak.json and bench/results/soak.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from typing import Any

import aiohttp

from bench.common import (
    LOGS,
    RESULTS,
    SERVICE_ENV,
    TENANT,
    connect,
    fresh_database_server,
    log,
    new_company,
    save_json,
    services,
    simulator,
)
from tests.support.services import ServiceProcess

INTERVALS = {
    "RECONCILE_INTERVAL_SECONDS": "120",
    "RECONCILE_INTERVAL_DEGRADED_SECONDS": "120",
    "DELTA_SYNC_INTERVAL_SECONDS": "20",
    "WEBHOOK_HEALTH_INTERVAL_SECONDS": "60",
    "SCHEDULER_TICK_SECONDS": "1",
    "RUN_SUPERVISOR_TICK_SECONDS": "2",
}
RECORDS = 500


async def _controller(session: aiohttp.ClientSession, url: str) -> Any:
    from ironclad_simulator.control import SimulatorControl

    return SimulatorControl(url, session)


async def soak(minutes: float) -> dict[str, Any]:
    async with fresh_database_server(), simulator() as sim, aiohttp.ClientSession() as session:
        ctl = await _controller(session, sim.url)
        await ctl.set_config(rate_limits_enabled=True, latency_ms=50)
        company = await new_company(ctl, RECORDS, document_ratio=0.05, max_bytes=50_000)
        cid = company["company_id"]
        async with services(sim, importers=2, mappers=2, importer_env=INTERVALS) as world:
            await connect(world, company)
            imported = await world.api.wait_run(TENANT, await world.api.start_import(TENANT), timeout=600)
            log(f"soak: initial import {imported['status']}, {imported['created']} created")
            enabled = await world.api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/automatic-sync")
            assert enabled.status == 200, enabled.body
            await ctl.reset_stats()
            t0 = time.monotonic()
            changes: Counter[str] = Counter()
            deleted: list[str] = []
            rng = random.Random(13)
            duration = minutes * 60
            killed = False
            while time.monotonic() - t0 < duration:
                records = [r["id"] for r in await ctl.list_records(cid)]
                action = rng.choices(["status", "edit", "create", "delete"], weights=[5, 4, 1, 1])[0]
                if action == "status":
                    await ctl.set_record_status(cid, rng.choice(records), rng.choice(["active", "expired"]))
                elif action == "edit":
                    await ctl.edit_record(cid, rng.choice(records), name=f"Edited {changes['edit']}")
                elif action == "create":
                    await ctl.seed(cid, 1, seed=rng.getrandbits(31), document_ratio=0.0)
                else:
                    victim = rng.choice(records)
                    await ctl.delete_record(cid, victim)
                    deleted.append(victim)
                changes[action] += 1
                if not killed and time.monotonic() - t0 > duration / 2:
                    victim_proc = world.importers[0]
                    victim_proc.kill()
                    log("soak: importer 1 killed with SIGKILL; starting it again")
                    replacement = ServiceProcess(
                        "importer",
                        world.stack.env(
                            **SERVICE_ENV, HEALTH_PORT=world.importer_metrics_ports[0], **INTERVALS
                        ),
                        LOGS,
                    ).start()
                    world.importers[0] = replacement
                    killed = True
                await asyncio.sleep(rng.uniform(0.3, 1.2))
            traffic_seconds = time.monotonic() - t0
            log(f"soak: traffic over after {traffic_seconds:.0f} s: {dict(changes)}; settling")
            settle_started = time.monotonic()
            settled = await _settle(
                world, ctl, cid, timeout=float(INTERVALS["RECONCILE_INTERVAL_SECONDS"]) * 2.5
            )
            settle_seconds = time.monotonic() - settle_started
            stats = await ctl.company_stats(cid)
            runs = await _all_runs(world)
            result = _verdict(
                settled, runs, stats, changes, deleted, traffic_seconds + settle_seconds, traffic_seconds
            )
            result["settle_seconds"] = round(settle_seconds, 1)
            return result


async def _settle(world: Any, ctl: Any, cid: str, *, timeout: float) -> dict[str, Any]:
    """Wait until MongoDB equals Ironclad (after at least one reconciliation since the traffic ended)."""
    started = time.monotonic()
    last: dict[str, Any] = {}
    while time.monotonic() - started < timeout:
        records = {r["id"]: r for r in await ctl.list_records(cid)}
        contracts = await world.api.all_contracts(TENANT)
        live = {c["ironclad"]["id"]: c for c in contracts if not c["deleted"]}
        stale = [
            rid
            for rid, c in live.items()
            if rid in records and c["ironclad"]["lastUpdated"] != records[rid]["lastUpdated"]
        ]
        last = {
            "records": len(records),
            "live_contracts": len(live),
            "missing": sorted(set(records) - set(live)),
            "extra_live": sorted(set(live) - set(records)),
            "stale": stale,
            "falsely_deleted": sorted(
                c["ironclad"]["id"] for c in contracts if c["deleted"] and c["ironclad"]["id"] in records
            ),
            "marked_deleted": sorted(c["ironclad"]["id"] for c in contracts if c["deleted"]),
        }
        runs = await _all_runs(world)
        active = [r for r in runs if r["status"] in ("queued", "running")]
        if not last["missing"] and not last["extra_live"] and not stale and not active:
            last["equal"] = True
            return last
        await asyncio.sleep(3)
    last["equal"] = False
    return last


async def _all_runs(world: Any) -> list[dict[str, Any]]:
    """Every run of the tenant, from the database (the admin API lists the latest 200)."""
    from pymongo import AsyncMongoClient

    from contracts_common.storage.runs import public_run

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(world.stack.mongodb_url, tz_aware=True)
    try:
        db = client[world.stack.database]
        return [public_run(doc) async for doc in db.runs.find({"tenant": TENANT})]
    finally:
        await client.close()


def _verdict(
    settled: dict[str, Any],
    runs: list[dict[str, Any]],
    stats: dict[str, Any],
    changes: Counter[str],
    deleted: list[str],
    seconds: float,
    traffic_seconds: float,
) -> dict[str, Any]:
    by_kind = Counter(r["kind"] for r in runs)
    not_terminal = [r["run_id"] for r in runs if r["status"] in ("queued", "running")]
    unbalanced = [
        r["run_id"]
        for r in runs
        if r["fetched"] != r["created"] + r["updated"] + r["unchanged"] + r["skipped_stale"] + r["failed"]
    ]
    requests = dict(stats["requests"])
    listings = stats.get("listings") or []
    offset_pages = sum(1 for q in listings if q.get("sortDirection") == "DESC" and not q.get("lastUpdated"))
    windows = sum(1 for q in listings if q.get("sortDirection") == "ASC")
    reconciles = [r for r in runs if r["kind"] == "reconcile"]
    delta_passes = int(seconds // float(INTERVALS["DELTA_SYNC_INTERVAL_SECONDS"]))
    expected_pages = sum(r.get("pages_total") or 0 for r in reconciles)
    # At least one window per incremental pass and per closing pass; one more per 100 changed records
    # (the first pass after Automatic Sync is switched on also reads what changed in its overlap).
    expected_windows = delta_passes + len(reconciles)
    single_gets = requests.get("GET /records/{id}", 0)
    expected_gets = changes["status"] + len(deleted)  # one per webhook event, one per deletion confirmed
    listing = requests.get("GET /records", 0)
    expected_listing = expected_pages + expected_windows
    return {
        "seconds": round(seconds, 1),
        "traffic_seconds": round(traffic_seconds, 1),
        "changes": dict(changes),
        "equal": settled.get("equal", False),
        "settled": {k: (v if not isinstance(v, list) else len(v)) for k, v in settled.items()},
        "falsely_deleted": settled.get("falsely_deleted", []),
        "deleted_in_ironclad": len(deleted),
        "runs_by_kind": dict(by_kind),
        "runs_not_terminal": not_terminal,
        "runs_unbalanced": unbalanced,
        "ironclad_requests": requests,
        "rate_limited": stats.get("rate_limited", {}),
        "expected": {
            "GET /records": round(expected_listing),
            "GET /records (explained by)": f"{expected_pages} offset pages of {len(reconciles)}"
            f" reconciliation(s) (actual {offset_pages}), at least {expected_windows} ascending windows:"
            f" {delta_passes} incremental passes + {len(reconciles)} closing passes (actual {windows})",
            "GET /records/{id}": expected_gets,
            "GET /records/{id} (explained by)": f"{changes['status']} webhook events"
            f" + {len(deleted)} deletion candidates confirmed",
        },
        "actual": {"GET /records": listing, "GET /records/{id}": single_gets},
    }


def markdown(result: dict[str, Any]) -> str:
    ok = (
        result["equal"]
        and not result["falsely_deleted"]
        and not result["runs_not_terminal"]
        and not result["runs_unbalanced"]
    )
    lines = [
        "# Soak",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')} by `python -m bench.soak`: two importers and two"
        " mappers with schedulers on (reconcile every 120 s, incremental pass every 20 s), Automatic Sync"
        " on, Ironclad's real rate limits with 50 ms latency, one importer killed (SIGKILL) and restarted"
        " midway.",
        "",
        f"**Verdict: {'pass' if ok else 'FAIL'}**",
        "",
        "| check | result |",
        "|---|---|",
        f"| traffic | {result['traffic_seconds']} s: {result['changes']} |",
        f"| MongoDB equals Ironclad after settling | {result['equal']}"
        f" ({result['settle_seconds']} s to settle) |",
        f"| state at the end | {result['settled']} |",
        f"| false deletions | {len(result['falsely_deleted'])} |",
        f"| runs by kind | {result['runs_by_kind']} |",
        f"| runs not terminal | {len(result['runs_not_terminal'])} |",
        f"| runs whose counters do not add up | {len(result['runs_unbalanced'])} |",
        f"| 429 answers | {sum(result['rate_limited'].values())} |",
        "",
        "## Ironclad requests, expected against actual",
        "",
        "| request | expected | actual | expected because |",
        "|---|---|---|---|",
        f"| GET /records | {result['expected']['GET /records']} | {result['actual']['GET /records']} |"
        f" {result['expected']['GET /records (explained by)']} |",
        f"| GET /records/{{id}} | {result['expected']['GET /records/{id}']} |"
        f" {result['actual']['GET /records/{id}']} |"
        f" {result['expected']['GET /records/{id} (explained by)']} |",
        "",
        f"All requests: `{json.dumps(result['ironclad_requests'])}`",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    p.add_argument("--minutes", type=float, default=10.0, help="minutes of traffic (then it settles)")
    args = p.parse_args()
    result = asyncio.run(soak(args.minutes))
    save_json("soak.json", result)
    (RESULTS / "soak.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
