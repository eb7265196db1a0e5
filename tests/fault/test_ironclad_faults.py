"""Ironclad faults (R11, R12, R13): partial listings, rate limits and error bursts, a revoked app."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.fault.support import (
    TENANT,
    Mongo,
    ScaledClock,
    Workers,
    assert_exact,
    company_stats,
    connect,
    records_gets,
    wait_pages,
)
from tests.support.api import AdminApi

pytestmark = pytest.mark.fault


async def _reconcile(api: AdminApi) -> str:
    answer = await api.call("POST", f"/api/v1/tenants/{TENANT}/ironclad/reconcile")
    assert answer.status == 202, answer
    return str(answer.body["run_id"])


async def test_r11_partial_listing_deletes_nothing_complete_one_marks_deleted(
    api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    """R11: GET /records failing at page k (500 until cleared) → zero deletions and a run that is not
    `succeeded`; after clearing, a complete listing marks exactly the vanished records deleted."""
    cid = company["company_id"]
    await sim.seed(cid, count=200, seed=3, document_ratio=0.0)
    await connect(api, company)
    settings = {"PAGE_SIZE": 20, "MAX_RETRIES": 2}
    await procs.start("importer", **settings)
    await procs.start("mapper", **settings)
    first = await api.wait_run(TENANT, await api.start_import(TENANT), timeout=60)
    assert first["status"] == "succeeded", first
    assert first["created"] == 200, first

    records = await sim.list_records(cid)
    vanished = {r["id"] for r in records[::20]}  # 10 records, spread over the listing
    for rid in vanished:
        await sim.delete_record(cid, rid)
    # 190 records left: pages 0..9; page 6 fails with a 500 every time.
    await sim.add_fault("/records$", 500, method="GET", query={"page": "6"}, times=-1, company_id=cid)
    partial = await api.wait_run(TENANT, await _reconcile(api), timeout=90)
    assert partial["status"] in ("failed", "partially_succeeded"), partial
    assert partial["error"], partial
    assert partial["deleted"] == 0, partial
    assert await db.db.contracts.count_documents({"tenant": TENANT, "deleted": True}) == 0
    hits = sum(f["hits"] for f in await sim.list_faults())
    assert hits >= 2, "the failing page was retried"

    await sim.clear_faults()
    complete = await api.wait_run(TENANT, await _reconcile(api), timeout=60)
    assert complete["status"] == "succeeded", complete
    assert complete["deleted"] == len(vanished), complete
    deleted = {d["ironclad"]["id"] async for d in db.db.contracts.find({"tenant": TENANT, "deleted": True})}
    assert deleted == vanished
    assert await db.db.contracts.count_documents({"tenant": TENANT, "deleted": False}) == 190


async def test_r12_two_importers_stay_under_the_rate_limit(
    api: AdminApi, procs: Workers, db: Mongo, simulator: Any, sim: Any, company: dict[str, Any]
) -> None:
    """R12: the simulator enforces 60 GET records per (simulated) minute; its clock runs 3x, so the
    window is 20 s and the limit 180 a real minute, which the importers are configured with. Two
    importers listing 72 pages unpaced would trip it within seconds; paced they see no 429."""
    cid = company["company_id"]
    await sim.seed(cid, count=355, seed=12, document_ratio=0.0)
    await connect(api, company)
    simulator.clock = ScaledClock(3.0)
    await sim.set_config(rate_limits_enabled=True, rate_limits={"records_read": 60})
    settings = {"PAGE_SIZE": 5, "RATE_LIMIT_RECORDS_READ_PER_MINUTE": 180, "IRONCLAD_CONCURRENCY": 4}
    await asyncio.gather(procs.start("importer", **settings), procs.start("importer", **settings))
    await procs.start("mapper")
    await sim.reset_stats()
    started = time.monotonic()
    run = await api.wait_run(TENANT, await api.start_import(TENANT), timeout=90)
    took = time.monotonic() - started
    await assert_exact(db, sim, cid, run)
    stats = await company_stats(sim, cid)
    gets = stats["requests"].get("GET /records", 0)
    assert gets >= 72, stats["requests"]
    assert sum(stats["rate_limited"].values()) == 0, stats["rate_limited"]
    # Both importers took part, and the pace held: 72 requests at <= 171 a minute need >= ~24 s.
    assert took > 20, took


async def test_r12_error_bursts_back_off_and_complete_without_a_storm(
    api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    """R12: bursts of 500s and bare 429s: the import completes exactly, and every request beyond
    one per page was answered by an injected fault (no retry storm)."""
    cid = company["company_id"]
    await sim.seed(cid, count=300, seed=21, document_ratio=0.0)
    await connect(api, company)
    for page, status, times in (("2", 500, 4), ("5", 429, 4), ("8", 500, 2), ("8", 429, 2)):
        await sim.add_fault(
            "/records$", status, method="GET", query={"page": page}, times=times, company_id=cid
        )
    await sim.add_fault(
        "/records$", 429, method="GET", query={"sortDirection": "DESC"}, times=3, company_id=cid
    )
    # Every Ironclad request is counted below: the incremental pass keeps to an interval past the test.
    settings = {"PAGE_SIZE": 20, "MAX_RETRIES": 3, "DELTA_SYNC_INTERVAL_SECONDS": 3600}
    await procs.start("importer", **settings)
    await procs.start("mapper", **settings)
    await sim.reset_stats()
    run = await api.wait_run(TENANT, await api.start_import(TENANT), timeout=90)
    await assert_exact(db, sim, cid, run)
    faults = await sim.list_faults()
    hits = sum(f["hits"] for f in faults)
    assert hits == 4 + 4 + 2 + 2 + 3, faults
    stats = await company_stats(sim, cid)
    gets = stats["requests"]["GET /records"]
    closing = [q for q in stats["listings"] if q["sortDirection"] == "ASC"]
    # The closing pass reads what changed since the import began (here: all 300 seeded records) in
    # windows of 100: a handful of requests, none of them faulted.
    assert 1 <= len(closing) <= 300 // 100 + 2, closing
    # One successful request per page (15; page 0 plans the run and is used), the faulted ones, and
    # the closing pass: no retry storm.
    assert gets == 15 + hits + len(closing), (gets, hits, len(closing))


async def test_r13_revoked_app_needs_reauth_without_retry_loop(
    api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    """R13: the app is revoked mid-import: connection `needs_reauth`, the run ends failed or
    partially_succeeded with a reason, and token requests stop."""
    cid = company["company_id"]
    client_id = company["apps"][0]["client_id"]
    await sim.seed(cid, count=400, seed=13, document_ratio=0.0)
    await sim.set_config(latency_ms=80)
    await connect(api, company)
    settings = {"PAGE_SIZE": 20, "IRONCLAD_CONCURRENCY": 2}
    await procs.start("importer", **settings)
    await procs.start("mapper", **settings)
    run_id = await api.start_import(TENANT)
    await wait_pages(db, run_id, at_least=3)
    before = (await sim.stats())["token_requests"].get(client_id, 0)
    await sim.revoke_app(client_id)

    run = await api.wait_run(TENANT, run_id, timeout=60)
    assert run["status"] in ("failed", "partially_succeeded"), run
    assert run["error"], run
    assert "reconnect" in run["error"].lower(), run
    connection = await api.call("GET", f"/api/v1/tenants/{TENANT}/ironclad/connection")
    assert connection.body["status"] == "needs_reauth", connection.body

    at_end = (await sim.stats())["token_requests"].get(client_id, 0)
    await asyncio.sleep(3)
    later = (await sim.stats())["token_requests"].get(client_id, 0)
    assert later == at_end, f"token requests went on after the run ended: {at_end} -> {later}"
    # A refresh attempt or two per in-flight call is fine; a loop is not.
    assert at_end - before <= 4, (before, at_end)
    # The remaining page tasks are dropped, not retried against Ironclad.
    gets = await records_gets(sim, cid)
    await asyncio.sleep(1)
    assert await records_gets(sim, cid) == gets
