"""Multi-tenant benchmark (issue 21; R22, R24, R25, R26): `python -m bench.tenants [--quick] [--huge]`.

Every scenario runs through the real services as bench/common.py starts them (gateway, one importer, one
mapper as child processes, the simulator as a child process, a fresh database server per scenario), with the
importer's scheduler on as production runs it. The benchmark reads only stable interfaces: settings
(environment variables), the gateway's admin API, the `contracts` collection, Prometheus metrics and the
simulator's per-company request log (`/_sim/stats`: each `GET /records` with its arrival time `at`).

A. Noisy neighbour (R25), once with our rate limiter off (`RATE_LIMIT_ENABLED=false`, simulator limits off,
   no latency: only our own queues and workers are contended) and once on (the simulator enforcing
   Ironclad's real per-company limits, our limiter on, 50-200 ms latency). Tenant A backfills a large company
   (3,000 records; `--huge`: 50,000) while small tenants (20 records each) import: each small import is timed
   from the POST until its run is terminal, alone (before A starts) and beside A's backfill, each on a fresh
   tenant with an identical company. A small tenant with Automatic Sync on gets contract-status changes
   (which Ironclad announces by webhook), each timed from the change until `contracts` holds the new
   `lastUpdated`, alone and beside the backfill. With the limiter off, A's import is awaited to count the
   database round trips per record (`contracts_mongodb_commands_total` of importer and mapper).
B. Many tenants (R22, R26): N companies (2 records each, a month old), each connected through the admin API
   with Automatic Sync on; one importer; Ironclad latency 250 ms; `DELTA_SYNC_INTERVAL_SECONDS` as given
   (60 s; quick 20 s, with `SCHEDULER_TICK_SECONDS` compressed alike from production's default).
   For several intervals: every tenant's incremental passes from the simulator's request log (a pass = the
   `GET /records` listings of one company less than a few seconds apart; the tenant's connection time is the
   first anchor, since its first pass is due one interval after it), the gaps between them (open gaps still
   running at the end count as lower bounds), Ironclad requests per quiet tenant per minute, and the
   importer's database commands per minute, per incremental turn and per scheduler tick period. Meanwhile
   some tenants get record edits with no webhook (property edits), each timed until MongoDB has it.
C. Hanging tenant (R26), right after B in the same world: the tenant expected next in line gets a
   company-scoped delay fault (its Ironclad API answers only after the hang), kept for `hang` seconds from its
   first hung request; every other tenant's passes are checked against their due time (previous pass +
   interval) until 15 s after the hang ended (a turn due by then and not started counts as late by how
   overdue it is). B's window gives the same lateness without a hang.

Results: stdout, bench/results/tenants.json and bench/results/tenants.md. Everything runs on one 2-core
machine with a slow MongoDB-compatible server: read the numbers as this machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import aiohttp

from bench.common import (
    USER,
    Services,
    _metrics_texts,
    command_delta,
    db_probe,
    fresh_database_server,
    log,
    new_company,
    save_json,
    scrape_db_commands,
    services,
    simulator,
)
from contracts_common.settings import ImporterSettings
from tests.support.api import TERMINAL

T = TypeVar("T")
LIMITS_OFF = {"RATE_LIMIT_ENABLED": "false"}
BIG = "noisy"
API_PATH = r"^/public/api/v1/"


@dataclass(frozen=True)
class Plan:
    # A. noisy neighbour
    backfill_records: int
    small_records: int
    reps: int  # small imports alone and beside the backfill, each
    changes: int  # webhook changes alone and beside the backfill, each
    latency_on_ms: float  # limits-on variant: latency + uniform [0, jitter]
    jitter_on_ms: float
    # Seconds to await A's import (limiter off) for its round trips per record; 0: not awaited, not counted.
    backfill_cap: float
    # B. many tenants
    tenants: int
    interval: float  # DELTA_SYNC_INTERVAL_SECONDS
    tick: float  # SCHEDULER_TICK_SECONDS: production's default, compressed by the same factor as the interval
    latency_ms: float
    window: float  # measured seconds after every tenant is connected
    edit_tenants: int
    edits_per_tenant: int
    edit_spacing: float
    miss_after: float  # an edit not in MongoDB this long after it was made counts as missed
    connect_concurrency: int
    connect_cap: float  # seconds for connecting every tenant; whoever is connected by then is measured
    # C. hanging tenant
    hang: float
    hang_wait: float  # how long to wait for the hanging tenant's first request


# The importer's default tick (what production runs), from its settings.
PRODUCTION_TICK: float = ImporterSettings.model_fields["scheduler_tick_seconds"].default


FULL = Plan(
    backfill_records=3_000,
    small_records=20,
    reps=3,
    changes=10,
    latency_on_ms=50,
    jitter_on_ms=150,
    backfill_cap=120,
    tenants=1_000,
    interval=60,
    tick=PRODUCTION_TICK,
    latency_ms=250,
    window=180,
    edit_tenants=60,
    edits_per_tenant=6,
    edit_spacing=10,
    miss_after=120,
    connect_concurrency=8,
    connect_cap=240,
    hang=60,
    hang_wait=60,
)
QUICK = Plan(
    backfill_records=3_000,
    small_records=20,
    reps=2,
    changes=6,
    latency_on_ms=50,
    jitter_on_ms=150,
    backfill_cap=60,
    tenants=100,
    interval=20,
    tick=PRODUCTION_TICK * 20 / 60,
    latency_ms=250,
    window=80,
    edit_tenants=20,
    edits_per_tenant=3,
    edit_spacing=5,
    miss_after=60,
    connect_concurrency=8,
    connect_cap=90,
    hang=20,
    hang_wait=20,
)


# -- small helpers -------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[k], 3)


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": pct(values, 50),
        "p99": pct(values, 99),
        "max": round(max(values), 3) if values else None,
        "mean": round(statistics.fmean(values), 3) if values else None,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


async def bounded(
    items: list[T], work: Callable[[T], Awaitable[Any]], concurrency: int, deadline: float
) -> list[Any]:
    """`work` on every item, at most `concurrency` at once, none started after `deadline` (monotonic);
    an item's exception is its result."""
    results: list[Any] = [None] * len(items)
    queue = list(enumerate(items))
    queue.reverse()

    async def worker() -> None:
        while queue and time.monotonic() < deadline:
            i, item = queue.pop()
            try:
                results[i] = await work(item)
            except Exception as exc:
                results[i] = exc

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def epoch(iso: str) -> float:
    from ironclad_simulator.clock import parse_iso

    return parse_iso(iso)


async def connect_tenant(world: Services, tenant: str, company: dict[str, Any], *, sync: bool) -> float:
    """Connect `tenant` to `company` through the admin API (a real OAuth call), Automatic Sync on if `sync`;
    returns the wall time the connection answered (its first periodic turn is due an interval later)."""
    answer = await world.api.connect(tenant, company["apps"][0], USER)
    if answer.status != 200:
        raise RuntimeError(f"connect {tenant}: {answer.status} {str(answer.body)[:300]}")
    connected = time.time()
    if sync:
        answer = await world.api.call("POST", f"/api/v1/tenants/{tenant}/ironclad/automatic-sync")
        if answer.status != 200:
            raise RuntimeError(f"automatic sync {tenant}: {answer.status} {str(answer.body)[:300]}")
    return connected


async def timed_import(world: Services, tenant: str, timeout: float = 120.0) -> dict[str, Any]:
    t0 = time.monotonic()
    run_id = await world.api.start_import(tenant)
    while True:
        run = await world.api.run(tenant, run_id)
        if run["status"] in TERMINAL or time.monotonic() - t0 > timeout:
            break
        await asyncio.sleep(0.05)
    return {
        "tenant": tenant,
        "seconds": round(time.monotonic() - t0, 3),
        "status": run["status"],
        "created": run.get("created"),
        "fetched": run.get("fetched"),
    }


async def scrape_counter(ports: list[int], name: str) -> dict[str, float]:
    """A labelled counter of the workers on these probe ports, summed by its label set."""
    pattern = re.compile(rf"^{name}\{{([^}}]*)\}} (\S+)$", re.MULTILINE)
    out: dict[str, float] = {}
    for text in await _metrics_texts(ports):
        for labels, value in pattern.findall(text):
            out[labels] = out.get(labels, 0.0) + float(value)
    return out


# -- A. noisy neighbour --------------------------------------------------------------------------------


async def webhook_changes(
    world: Services, ctl: Any, tenant: str, cid: str, records: list[dict[str, Any]], n: int, seed: int
) -> dict[str, Any]:
    """`n` contract-status changes (Ironclad fires `record_contract_status_changed` for each), 0.4 s apart,
    each timed until `contracts` holds the record's new `lastUpdated`."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[Any] = AsyncMongoClient(world.stack.mongodb_url)
    contracts = client[world.stack.database].contracts
    took: list[float] = []
    missed = 0
    rng = random.Random(seed)

    async def one(record: dict[str, Any], status: str) -> None:
        nonlocal missed
        t0 = time.monotonic()
        changed = await ctl.set_record_status(cid, record["id"], status)
        want = changed["record"]["lastUpdated"]
        while time.monotonic() - t0 < 30:
            doc = await contracts.find_one(
                {"tenant": tenant, "ironclad.id": record["id"]}, {"ironclad.lastUpdated": 1}
            )
            if doc is not None and doc["ironclad"]["lastUpdated"] >= want:
                took.append(time.monotonic() - t0)
                return
            await asyncio.sleep(0.02)
        missed += 1

    try:
        tasks = []
        for i, record in enumerate(rng.sample(records, min(n, len(records)))):
            tasks.append(asyncio.create_task(one(record, f"bench-{seed}-{i}")))
            await asyncio.sleep(0.4)
        await asyncio.gather(*tasks)
    finally:
        await client.close()
    return {**spread(took), "missed_after_30s": missed}


async def noisy_neighbour(plan: Plan, limits: bool) -> dict[str, Any]:
    label = "limiter on" if limits else "limiter off"
    probe = await db_probe()
    latency, jitter = (plan.latency_on_ms, plan.jitter_on_ms) if limits else (0.0, 0.0)
    from ironclad_simulator.control import SimulatorControl

    async with simulator() as sim, aiohttp.ClientSession() as session:
        ctl = SimulatorControl(sim.url, session)
        await ctl.set_config(rate_limits_enabled=limits, latency_ms=0, latency_jitter_ms=0)
        log(f"A ({label}): seeding {plan.backfill_records} + {2 * plan.reps} x {plan.small_records}")
        big = await new_company(ctl, plan.backfill_records, seed=1)
        # Identical small companies (same seed), one fresh tenant per measured import.
        smalls = [await new_company(ctl, plan.small_records, seed=7) for _ in range(2 * plan.reps)]
        async with services(sim, importer_env=None if limits else LIMITS_OFF) as world:
            await connect_tenant(world, BIG, big, sync=False)
            for i, company in enumerate(smalls):
                await connect_tenant(world, f"small{i}", company, sync=i == 0)
            await ctl.set_config(latency_ms=latency, latency_jitter_ms=jitter)
            hooked = smalls[0]["company_id"]
            records = await ctl.list_records(hooked)
            log(f"A ({label}): small imports and webhook changes alone")
            alone = [await timed_import(world, f"small{i}") for i in range(plan.reps)]
            changes_alone = await webhook_changes(world, ctl, "small0", hooked, records, plan.changes, 1)

            before = await scrape_db_commands(world)
            t_backfill = time.monotonic()
            big_run = await world.api.start_import(BIG)
            await asyncio.sleep(2.0)  # A has listed page 0 and published its page tasks
            log(f"A ({label}): small imports and webhook changes beside the backfill")
            beside = [await timed_import(world, f"small{i}") for i in range(plan.reps, 2 * plan.reps)]
            changes_beside = await webhook_changes(world, ctl, "small0", hooked, records, plan.changes, 2)
            big_after = await world.api.run(BIG, big_run)
            backfill: dict[str, Any] = {
                "records": plan.backfill_records,
                "status_when_measurements_ended": big_after["status"],
                "fetched_when_measurements_ended": big_after.get("fetched"),
                "running_throughout": big_after["status"] not in TERMINAL,
            }
            if not limits and plan.backfill_cap > 0:
                while (
                    big_after["status"] not in TERMINAL and time.monotonic() - t_backfill < plan.backfill_cap
                ):
                    await asyncio.sleep(0.5)
                    big_after = await world.api.run(BIG, big_run)
                commands = command_delta(before, await scrape_db_commands(world))
                trips = {service: sum(c.values()) for service, c in commands.items()}
                stored = int(big_after.get("created") or 0) + int(big_after.get("updated") or 0)
                backfill.update(
                    {
                        "status": big_after["status"],
                        "seconds": round(time.monotonic() - t_backfill, 1),
                        "stored": stored,
                        "db_round_trips": trips,
                        "db_round_trips_per_record": round(sum(trips.values()) / max(stored, 1), 3),
                    }
                )
    alone_s = [r["seconds"] for r in alone]
    beside_s = [r["seconds"] for r in beside]
    result = {
        "label": label,
        "db_probe_upserts_per_second": probe,
        "simulator_rate_limits": limits,
        "importer_rate_limiter": limits,
        "latency_ms": [latency, latency + jitter],
        "small_import_alone": alone,
        "small_import_beside": beside,
        "small_import_alone_median_s": round(statistics.median(alone_s), 3),
        "small_import_beside_median_s": round(statistics.median(beside_s), 3),
        "small_import_beside_max_s": max(beside_s),
        "small_import_ratio": ratio(statistics.median(beside_s), statistics.median(alone_s)),
        "webhook_alone": changes_alone,
        "webhook_beside": changes_beside,
        "webhook_p50_ratio": ratio(changes_beside["p50"], changes_alone["p50"]),
        "webhook_max_ratio": ratio(changes_beside["max"], changes_alone["max"]),
        "backfill": backfill,
    }
    log(
        f"A ({label}): small import {result['small_import_alone_median_s']} s alone, "
        f"{result['small_import_beside_median_s']} s beside ({result['small_import_ratio']}x); webhook p50 "
        f"{changes_alone['p50']} -> {changes_beside['p50']} s, max {changes_alone['max']} -> "
        f"{changes_beside['max']} s; backfill {backfill}"
    )
    return result


# -- B. many tenants, C. a hanging tenant -------------------------------------------------------------


def passes_of(listings: list[dict[str, Any]], join: float, after: float) -> list[float]:
    """Start times of a company's passes: its listings' arrival times after `after` (connecting lists one
    record to prove the credentials), those less than `join` s after the previous one belonging to the same
    pass (a pass with changes lists several windows)."""
    times = sorted(at for q in listings if q.get("at") and (at := epoch(str(q["at"]))) > after)
    starts: list[float] = []
    last = float("-inf")
    for at in times:
        if at - last > join:
            starts.append(at)
        last = at
    return starts


def gaps_in(
    events: dict[str, list[float]], start: float, end: float, interval: float
) -> tuple[list[float], list[float]]:
    """Gaps between consecutive events that end within [start, end], and the open gaps at `end` already
    longer than the interval (lower bounds)."""
    closed: list[float] = []
    open_: list[float] = []
    for times in events.values():
        for a, b in itertools.pairwise(times):
            if start <= b <= end:
                closed.append(b - a)
        if times and end - times[-1] > interval:
            open_.append(end - times[-1])
    return closed, open_


def lateness_in(
    events: dict[str, list[float]], start: float, end: float, interval: float
) -> tuple[list[float], list[float]]:
    """How late each pass that started within [start, end] was against its due time (previous event +
    interval); and, for turns due within the window that had not started by `end`, how late they are."""
    late: list[float] = []
    overdue: list[float] = []
    for times in events.values():
        for a, b in itertools.pairwise(times):
            if start <= b <= end:
                late.append(b - (a + interval))
        if times and start <= times[-1] + interval < end:
            overdue.append(end - (times[-1] + interval))
    return late, overdue


async def create_companies(ctl: Any, n: int) -> list[dict[str, Any]]:
    from contracts_common.ironclad import ALL_SCOPES

    async def one(i: int) -> dict[str, Any]:
        company: dict[str, Any] = await ctl.create_company(users=[USER], apps=[{"scopes": list(ALL_SCOPES)}])
        await ctl.seed(company["company_id"], 2, seed=i, document_ratio=0.0, age_seconds=30 * 86400)
        return company

    out = await bounded(list(range(n)), one, 16, time.monotonic() + 600)
    bad = [r for r in out if isinstance(r, Exception)]
    if bad:
        raise RuntimeError(f"{len(bad)} companies not created: {bad[0]}")
    return out


async def edits_without_webhook(
    world: Services, ctl: Any, targets: list[tuple[str, str, str]], plan: Plan
) -> dict[str, Any]:
    """`edits_per_tenant` name edits (no webhook) of one record per target tenant, `edit_spacing` apart;
    each timed until `contracts` holds at least that version (polled every second)."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[Any] = AsyncMongoClient(world.stack.mongodb_url)
    contracts = client[world.stack.database].contracts
    pending: list[tuple[str, str, str, float]] = []  # tenant, record id, lastUpdated, made at (monotonic)
    took: list[float] = []
    missed_tenants: set[str] = set()

    async def make_edits() -> None:
        for j in range(plan.edits_per_tenant):
            t_round = time.monotonic()
            for tenant, cid, rid in targets:
                rec = await ctl.edit_record(cid, rid, name=f"edited {j} without a webhook")
                pending.append((tenant, rid, rec["lastUpdated"], time.monotonic()))
            await asyncio.sleep(max(0.0, plan.edit_spacing - (time.monotonic() - t_round)))

    maker = asyncio.create_task(make_edits())
    try:
        while not maker.done() or pending:
            await asyncio.sleep(1.0)
            if not pending:
                continue
            now = time.monotonic()
            stored: dict[tuple[str, str], str] = {}
            async for doc in contracts.find(
                {"ironclad.id": {"$in": sorted({p[1] for p in pending})}},
                {"tenant": 1, "ironclad.id": 1, "ironclad.lastUpdated": 1},
            ):
                stored[(doc["tenant"], doc["ironclad"]["id"])] = doc["ironclad"]["lastUpdated"]
            left = []
            for tenant, rid, want, made in pending:
                if stored.get((tenant, rid), "") >= want:
                    took.append(now - made)
                elif now - made > plan.miss_after:
                    missed_tenants.add(tenant)
                    took.append(float("inf"))
                else:
                    left.append((tenant, rid, want, made))
            pending[:] = left
    finally:
        maker.cancel()
        await client.close()
    found = [t for t in took if t != float("inf")]
    p50, p99 = pct(took, 50), pct(took, 99)
    return {
        "tenants": len(targets),
        "edits": len(took),
        "in_mongodb": len(found),
        "missed": len(took) - len(found),
        "missed_after_s": plan.miss_after,
        "tenants_that_missed_one": len(missed_tenants),
        # Percentiles over all edits, a missed one counting as the longest: when a percentile falls on a
        # missed edit it is given as `missed_after_s` and flagged as a lower bound.
        "p50_s": plan.miss_after if p50 == float("inf") else p50,
        "p50_is_lower_bound": p50 == float("inf"),
        "p99_s": plan.miss_after if p99 == float("inf") else p99,
        "p99_is_lower_bound": p99 == float("inf"),
        "max_found_s": round(max(found), 1) if found else None,
        "poll_resolution_s": 1.0,
    }


async def many_tenants(plan: Plan) -> dict[str, Any]:
    from ironclad_simulator.control import SimulatorControl

    probe = await db_probe()
    out: dict[str, Any] = {
        "db_probe_upserts_per_second": probe,
        "tenants_planned": plan.tenants,
        "delta_sync_interval_seconds": plan.interval,
        "latency_ms": plan.latency_ms,
        "importers": 1,
    }
    async with simulator() as sim, aiohttp.ClientSession() as session:
        ctl = SimulatorControl(sim.url, session)
        await ctl.set_config(rate_limits_enabled=True, latency_ms=0)
        t0 = time.monotonic()
        companies = await create_companies(ctl, plan.tenants)
        out["create_companies_seconds"] = round(time.monotonic() - t0, 1)
        log(f"B: {plan.tenants} companies in {out['create_companies_seconds']} s")
        env = {"DELTA_SYNC_INTERVAL_SECONDS": str(plan.interval), "SCHEDULER_TICK_SECONDS": str(plan.tick)}
        async with services(sim, importer_env=env) as world:
            out["scheduler_tick_seconds"] = plan.tick
            tenants = [f"t{i:04d}" for i in range(len(companies))]
            by_tenant = dict(zip(tenants, companies, strict=True))
            t0 = time.monotonic()

            async def connect_one(tenant: str) -> float:
                return await connect_tenant(world, tenant, by_tenant[tenant], sync=True)

            answers = await bounded(tenants, connect_one, plan.connect_concurrency, t0 + plan.connect_cap)
            connected_at = {t: a for t, a in zip(tenants, answers, strict=True) if isinstance(a, float)}
            failures = [str(a)[:200] for a in answers if isinstance(a, Exception)]
            out.update(
                {
                    "connect_seconds": round(time.monotonic() - t0, 1),
                    "tenants_connected": len(connected_at),
                    "connect_failures": len(failures),
                    "connect_failure_example": failures[0] if failures else None,
                }
            )
            log(f"B: {len(connected_at)} tenants connected with Automatic Sync in {out['connect_seconds']} s")
            if not connected_at:
                raise RuntimeError(f"no tenant connected: {failures[:1]}")
            await ctl.set_config(latency_ms=plan.latency_ms)
            cid_of = {t: by_tenant[t]["company_id"] for t in connected_at}
            tenant_of = {c: t for t, c in cid_of.items()}
            rng = random.Random(21)
            sample = rng.sample(sorted(connected_at), min(plan.edit_tenants, len(connected_at)))
            targets = []
            for tenant in sample:
                records = await ctl.list_records(cid_of[tenant])
                targets.append((tenant, cid_of[tenant], records[0]["id"]))

            stats0 = await ctl.stats()
            cmd0 = await scrape_db_commands(world)
            turns0 = await scrape_counter(world.importer_metrics_ports, "contracts_scheduled_turns_total")
            w0 = time.time()
            log(f"B: measuring {plan.window:.0f} s, {len(sample)} tenants edited without a webhook")
            edit_task = asyncio.create_task(edits_without_webhook(world, ctl, targets, plan))
            await asyncio.sleep(plan.window)
            w1 = time.time()
            stats1 = await ctl.stats()
            cmd1 = await scrape_db_commands(world)
            turns1 = await scrape_counter(world.importer_metrics_ports, "contracts_scheduled_turns_total")
            out["edits_without_webhook"] = await edit_task
            t_edits_done = time.time()

            join = min(5.0, plan.interval / 3)

            def events(stats: dict[str, Any]) -> dict[str, list[float]]:
                return {
                    tenant_of[cid]: [
                        connected_at[tenant_of[cid]],
                        *passes_of(s["listings"], join, connected_at[tenant_of[cid]]),
                    ]
                    for cid, s in stats["companies"].items()
                    if cid in tenant_of
                }

            ev1 = events(stats1)
            closed, open_ = gaps_in(ev1, w0, w1, plan.interval)
            minutes = (w1 - w0) / 60
            in_window = {t: sum(1 for x in ts[1:] if w0 <= x <= w1) for t, ts in ev1.items()}
            quiet = [t for t in connected_at if t not in set(sample)]

            def requests(stats: dict[str, Any], tenant: str) -> int:
                return int(sum(stats["companies"][cid_of[tenant]]["requests"].values()))

            quiet_requests = [requests(stats1, t) - requests(stats0, t) for t in quiet]
            importer_cmds = sum(command_delta(cmd0, cmd1).get("importer", {}).values())
            delta_turns = sum(v - turns0.get(k, 0.0) for k, v in turns1.items() if 'task="delta"' in k)
            late, overdue = lateness_in(ev1, w0, w1, plan.interval)
            out.update(
                {
                    "window_seconds": round(w1 - w0, 1),
                    "gaps_s": spread(closed + open_),
                    "gaps_closed_s": spread(closed),
                    "open_gaps_longer_than_interval": len(open_),
                    "open_gap_max_s": round(max(open_), 1) if open_ else None,
                    "gap_p99_over_interval": ratio(pct(closed + open_, 99), plan.interval),
                    # An open gap at least as long as the p99: the true p99 is that or more.
                    "gap_p99_is_lower_bound": bool(open_) and max(open_) >= (pct(closed + open_, 99) or 0),
                    "tenants_without_a_pass_in_window": sum(1 for n in in_window.values() if n == 0),
                    "passes_per_tenant_per_minute": round(sum(in_window.values()) / len(ev1) / minutes, 3),
                    "ironclad_requests_per_quiet_tenant_per_minute": round(
                        sum(quiet_requests) / max(len(quiet), 1) / minutes, 3
                    ),
                    "importer_db_commands": importer_cmds,
                    "importer_db_commands_per_minute": round(importer_cmds / minutes, 1),
                    "delta_turns": delta_turns,
                    "importer_db_commands_per_delta_turn": round(importer_cmds / max(delta_turns, 1), 2),
                    "importer_db_commands_per_tick_period": round(
                        importer_cmds / ((w1 - w0) / out["scheduler_tick_seconds"]), 1
                    ),
                    "lateness_no_hang_s": spread(late),
                    "overdue_at_window_end": len(overdue),
                    "overdue_max_s": round(max(overdue), 1) if overdue else None,
                }
            )
            log(
                f"B: gaps {out['gaps_s']} (interval {plan.interval} s), {len(open_)} open gaps > interval, "
                f"{out['passes_per_tenant_per_minute']} passes/tenant/min, "
                f"{out['ironclad_requests_per_quiet_tenant_per_minute']} requests/quiet tenant/min, "
                f"{out['importer_db_commands_per_minute']} importer commands/min; edits "
                f"{out['edits_without_webhook']}"
            )

            # C. one tenant's Ironclad hangs, one that is not edited and whose turn comes soon. Today's
            # scheduler walks the tenants in the order they connected: take the 5th after the one whose pass
            # started last. A scheduler that keeps the interval visits any tenant within one, so the wait
            # for its first request is at least an interval.
            ev_now = events(await ctl.stats())
            order = [t for t in tenants if t in ev_now]
            latest = max(order, key=lambda t: ev_now[t][-1] if len(ev_now[t]) > 1 else float("-inf"))
            hung = next(
                t
                for k in range(5, len(order) + 5)
                if (t := order[(order.index(latest) + k) % len(order)]) not in set(sample)
            )
            fault = await ctl.add_fault(
                API_PATH, delay_ms=plan.hang * 1000, times=-1, company_id=cid_of[hung]
            )
            t_fault = time.time()
            log(f"C: {hung}'s Ironclad hangs ({plan.hang:.0f} s from its first request)")
            t_hit: float | None = None
            while time.time() - t_fault < max(plan.hang_wait, plan.interval + 15):
                if any(f["fault_id"] == fault and f["hits"] for f in await ctl.list_faults()):
                    t_hit = time.time()
                    break
                await asyncio.sleep(0.5)
            start = t_hit if t_hit is not None else t_fault
            await asyncio.sleep(max(0.0, start + plan.hang - time.time()))
            await ctl.delete_fault(fault)
            # Turns due during the hang or just after it: by now each should have started.
            c1 = start + plan.hang + 15
            await asyncio.sleep(max(0.0, c1 - time.time()))
            ev_c = events(await ctl.stats())
            others = {t: ts for t, ts in ev_c.items() if t != hung}
            late_c, overdue_c = lateness_in(others, start, c1, plan.interval)
            worst = late_c + overdue_c
            # The longest time in which no other tenant's pass started: a walk that waits on the hung tenant.
            starts = sorted(x for ts in others.values() for x in ts[1:] if start - 5 <= x <= c1)
            stall = max((b - a for a, b in itertools.pairwise([start, *starts, c1])), default=None)
            out["hanging_tenant"] = {
                "hang_seconds": plan.hang,
                "hung_tenant_visited": t_hit is not None,
                "waited_for_first_request_s": round((t_hit or time.time()) - t_fault, 1),
                "window_seconds": round(c1 - start, 1),
                "other_tenants": len(others),
                "lateness_s": spread(late_c),
                "overdue_at_end": len(overdue_c),
                "max_lateness_s": round(max(worst), 1) if worst else None,
                "turns_late_over_5s": sum(1 for x in worst if x > 5),
                "longest_time_without_another_tenants_pass_s": round(stall, 1) if stall else None,
                "baseline_max_lateness_no_hang_s": out["lateness_no_hang_s"]["max"],
                "hung_tenant_passes": [round(x - start, 1) for x in ev_c.get(hung, []) if x >= t_fault - 1],
            }
            log(f"C: {out['hanging_tenant']}")
            out["edits_finished_after_window_s"] = round(t_edits_done - w1, 1)
            # Raw material for another look: each tenant's anchor and pass starts, seconds from w0.
            out["hung_tenant"] = hung
            out["hang_started_s"] = round(start - w0, 2)
            out["events_s"] = {t: [round(x - w0, 2) for x in ts] for t, ts in ev_c.items()}
    return out


# -- the whole benchmark -------------------------------------------------------------------------------


async def on_fresh_server(step: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    async with fresh_database_server():
        return await step()


async def tenants_bench(
    quick: bool, *, huge: bool = False, scenarios: str = "abc", overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The scenarios asked for, each on a fresh database server; a failed one is reported, not raised."""
    plan = QUICK if quick else FULL
    if huge:
        # The small tenants' measurements take the backfill's first minute or two; 50,000 records with
        # documents are not awaited (about 10 GB into the test server), so no round trips per record.
        plan = Plan(**{**asdict(plan), "backfill_records": 50_000, "backfill_cap": 0})
    if overrides:
        if "interval" in overrides:  # the tick compressed alike, never above production's
            overrides = {
                "tick": min(PRODUCTION_TICK, PRODUCTION_TICK * overrides["interval"] / 60),
                **overrides,
            }
        plan = Plan(**{**asdict(plan), **overrides})
    started = time.monotonic()
    data: dict[str, Any] = {"benchmark": "tenants", "quick": quick, "plan": asdict(plan)}
    steps: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = []
    if "a" in scenarios:
        steps.append(("noisy_limiter_off", lambda: noisy_neighbour(plan, False)))
        steps.append(("noisy_limiter_on", lambda: noisy_neighbour(plan, True)))
    if "b" in scenarios or "c" in scenarios:
        steps.append(("many_tenants", lambda: many_tenants(plan)))
    for name, step in steps:
        t0 = time.monotonic()
        try:
            data[name] = await on_fresh_server(step)
        except Exception as exc:
            log(f"tenants/{name} failed: {type(exc).__name__}: {exc}")
            data.setdefault("failures", {})[name] = f"{type(exc).__name__}: {exc}"
        else:
            data[name]["step_seconds"] = round(time.monotonic() - t0, 1)
    data["wall_seconds"] = round(time.monotonic() - started, 1)
    return data


def summary_rows(data: dict[str, Any]) -> list[tuple[str, str, Any, str]]:
    """(scenario, metric, value, notes) rows for REPORT.md and stdout."""
    rows: list[tuple[str, str, Any, str]] = []
    for key in ("noisy_limiter_off", "noisy_limiter_on"):
        a = data.get(key)
        if not a:
            continue
        lat = a["latency_ms"]
        where = f"A, {a['label']}, Ironclad {lat[0]:.0f}-{lat[1]:.0f} ms"
        bf = a["backfill"]
        rows += [
            (
                where,
                "small import beside backfill / alone",
                a["small_import_ratio"],
                f"20 records: {a['small_import_alone_median_s']} s alone,"
                f" {a['small_import_beside_median_s']} s beside (max {a['small_import_beside_max_s']} s)"
                f" a {bf['records']:,}-record backfill"
                f" (still running at the end: {bf['running_throughout']}); target <= 1.5",
            ),
            (
                where,
                "webhook change -> contract, p50 / max beside (s)",
                f"{a['webhook_beside']['p50']} / {a['webhook_beside']['max']}",
                f"alone {a['webhook_alone']['p50']} / {a['webhook_alone']['max']} s"
                f" (ratios {a['webhook_p50_ratio']} / {a['webhook_max_ratio']});"
                f" n={a['webhook_beside']['n']}, missed {a['webhook_beside']['missed_after_30s']};"
                " target max <= 1.5 s",
            ),
        ]
        if "db_round_trips_per_record" in bf:
            rows.append(
                (
                    where,
                    "backfill: database round trips per record",
                    bf["db_round_trips_per_record"],
                    f"{bf['stored']:,} records in {bf['seconds']} s ({bf['status']}); {bf['db_round_trips']};"
                    " includes the small tenants' work meanwhile; R24 <= 1",
                )
            )
    if b := data.get("many_tenants"):
        where = (
            f"B, {b.get('tenants_connected', 0):,} tenants, 1 importer, {b['latency_ms']:.0f} ms,"
            f" interval {b['delta_sync_interval_seconds']:.0f} s"
        )
        if "gaps_s" in b:
            g = b["gaps_s"]
            rows += [
                (
                    where,
                    "gap between incremental passes p50 / p99 / max (s)",
                    f"{g['p50']} / {'>= ' if b.get('gap_p99_is_lower_bound') else ''}{g['p99']} / {g['max']}",
                    f"p99 = {b['gap_p99_over_interval']} x interval (target <= 1.2); {g['n']} gaps in"
                    f" {b['window_seconds']} s, {b['open_gaps_longer_than_interval']} of them still open"
                    f" at the end (lower bounds); {b['tenants_without_a_pass_in_window']} tenants"
                    " had no pass",
                ),
                (
                    where,
                    "incremental passes per tenant per minute",
                    b["passes_per_tenant_per_minute"],
                    f"target {60 / b['delta_sync_interval_seconds']:.2f}",
                ),
                (
                    where,
                    "Ironclad requests per quiet tenant per minute",
                    b["ironclad_requests_per_quiet_tenant_per_minute"],
                    f"target at this interval: {60 / b['delta_sync_interval_seconds']:.2f} passes a minute,"
                    " about 1 request each (R22 at 60 s: <= 2 requests a minute)",
                ),
                (
                    where,
                    "importer database commands per minute",
                    b["importer_db_commands_per_minute"],
                    f"{b['importer_db_commands_per_delta_turn']} per incremental turn"
                    f" ({b['delta_turns']:.0f} turns); {b['importer_db_commands_per_tick_period']} per"
                    f" {b['scheduler_tick_seconds']:.2g} s tick period",
                ),
            ]
            e = b["edits_without_webhook"]
            rows.append(
                (
                    where,
                    "edit with no webhook -> MongoDB p50 / p99 (s)",
                    f"{'>= ' if e.get('p50_is_lower_bound') else ''}{e['p50_s']} /"
                    f" {'>= ' if e.get('p99_is_lower_bound') else ''}{e['p99_s']}",
                    f"{e['edits']} edits of {e['tenants']} tenants, {e['missed']} missed after"
                    f" {e['missed_after_s']:.0f} s ({e['tenants_that_missed_one']} tenants missed one);"
                    " target p99 <= 120 s",
                ),
            )
        if h := b.get("hanging_tenant"):
            rows.append(
                (
                    f"C, one tenant's Ironclad hangs {h['hang_seconds']:.0f} s",
                    "other tenants' max lateness vs due time (s)",
                    h["max_lateness_s"],
                    f"{h['turns_late_over_5s']} turns late by > 5 s (target 0); without the hang, max"
                    f" {h['baseline_max_lateness_no_hang_s']} s; no other tenant's pass for"
                    f" {h.get('longest_time_without_another_tenants_pass_s')} s; hung tenant visited:"
                    f" {h['hung_tenant_visited']} after {h['waited_for_first_request_s']} s",
                )
            )
    for name, err in (data.get("failures") or {}).items():
        rows.append((name, "failed", "-", err[:300]))
    return rows


def markdown(data: dict[str, Any], command: str) -> str:
    """The result table as Markdown (bench/results/tenants.md), with the plan it ran."""
    lines = [
        f"# Many tenants ({'quick' if data['quick'] else 'full'})",
        "",
        f"`{command}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
        f" {data['wall_seconds'] / 60:.1f} min."
        " How each figure is measured: the docstring of bench/tenants.py.",
        "",
        "| Scenario | Metric | Value | Notes |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {where} | {metric} | {value} | {note} |" for where, metric, value, note in summary_rows(data)
    ]
    lines += ["", "Plan:", "", "```", json.dumps(data["plan"], indent=1), "```", ""]
    return "\n".join(lines)


def cli() -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.tenants",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="100 tenants, 20 s interval, shorter windows")
    p.add_argument("--huge", action="store_true", help="A backfills 50,000 records (long; not in the report)")
    p.add_argument("--scenarios", default="abc", help="any of a, b, c (b and c share one world)")
    p.add_argument("--tenants", type=int, default=None, help="override N of scenario B")
    p.add_argument("--interval", type=float, default=None, help="override DELTA_SYNC_INTERVAL_SECONDS of B")
    p.add_argument("--window", type=float, default=None, help="override B's measured seconds")
    p.add_argument("--budget", type=float, default=3600.0, help="seconds before the benchmark gives up")
    args = p.parse_args()

    async def bounded_run() -> dict[str, Any]:
        return await asyncio.wait_for(
            tenants_bench(
                args.quick,
                huge=args.huge,
                scenarios=args.scenarios.lower(),
                overrides={
                    k: v
                    for k, v in (
                        ("tenants", args.tenants),
                        ("interval", args.interval),
                        ("window", args.window),
                    )
                    if v is not None
                },
            ),
            args.budget,
        )

    data = asyncio.run(bounded_run())
    path = save_json("tenants.json", data)
    command = "python -m bench.tenants " + " ".join(sys.argv[1:])
    (path.parent / "tenants.md").write_text(markdown(data, command.strip()))
    for row in summary_rows(data):
        print(" | ".join(str(x) for x in row))
    log(f"wrote {path}")


if __name__ == "__main__":
    cli()
