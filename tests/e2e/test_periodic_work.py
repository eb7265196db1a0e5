"""Periodic work as production runs it (issue 13): the scheduler on, compressed intervals, two importer
replicas and a mapper as real processes. Exactly one turn per tenant and interval across replicas; an
edit Ironclad sends no webhook for arrives through the incremental pass; a stalled run is failed with its
reason; the health check repairs a disabled webhook on its interval; no false deletion under churn."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest

from contracts_common.messages import RunKind
from contracts_common.storage.database import Database
from contracts_common.storage.runs import Runs
from tests.support.api import AdminApi
from tests.support.services import ADMIN_TOKEN, ServiceProcess, Stack, free_port, wait_for, wait_ready

TENANT = "acme"
EMAIL = "admin@acme.example"
BASE = f"/api/v1/tenants/{TENANT}/ironclad"
CONTRACTS = f"/api/v1/tenants/{TENANT}/contracts"
RECONCILE_EVERY = 6.0
DELTA_EVERY = 2.0
HEALTH_EVERY = 3.0
STALL_AFTER = 4.0
INTERVALS = {
    "RECONCILE_INTERVAL_SECONDS": RECONCILE_EVERY,
    "RECONCILE_INTERVAL_DEGRADED_SECONDS": RECONCILE_EVERY,
    "DELTA_SYNC_INTERVAL_SECONDS": DELTA_EVERY,
    "DELTA_SYNC_OVERLAP_SECONDS": 1,
    "WEBHOOK_HEALTH_INTERVAL_SECONDS": HEALTH_EVERY,
    "SCHEDULER_TICK_SECONDS": 0.25,
    "RUN_SUPERVISOR_TICK_SECONDS": 0.25,
    "RUN_RECOUNT_AFTER_SECONDS": 1,
    "RUN_STALL_SECONDS": STALL_AFTER,
}


@pytest.fixture
async def replicas(
    stack: Stack, spawn: Callable[..., ServiceProcess]
) -> AsyncIterator[tuple[AdminApi, list[str]]]:
    """Gateway, mapper and two importers with the scheduler on; yields the API and the importers'
    metrics addresses."""
    spawn("gateway")
    spawn("mapper")
    probes = []
    for _ in range(2):
        port = free_port()
        spawn("importer", HEALTH_PORT=port, **INTERVALS)
        probes.append(f"http://127.0.0.1:{port}")
    base = f"http://127.0.0.1:{stack.gateway_port}"
    await wait_ready([base, *probes], what="gateway and both importers ready")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as session:
        yield AdminApi(base, session), probes


async def _connect(api: AdminApi, sim: Any, company: dict[str, Any], count: int = 30) -> str:
    cid = str(company["company_id"])
    await sim.seed(cid, count=count, seed=31, document_ratio=0.0)
    answer = await api.connect(TENANT, company["apps"][0], EMAIL)
    assert answer.status == 200, answer.body
    return cid


async def _runs(api: AdminApi, kind: str) -> list[dict[str, Any]]:
    answer = await api.call("GET", f"{BASE}/runs", params={"kind": kind})
    assert answer.status == 200, answer.body
    return sorted(answer.body["items"], key=lambda r: r["created_at"])


async def _metric(probes: list[str], sample: str) -> float:
    """The sum over the importers' /metrics of one sample (name and labels, as printed)."""
    total = 0.0
    async with aiohttp.ClientSession() as session:
        for probe in probes:
            async with session.get(probe + "/metrics") as response:
                for line in (await response.text()).splitlines():
                    if line.startswith(sample + " "):
                        total += float(line.rpartition(" ")[2])
    return total


async def _turns(probes: list[str], task: str) -> float:
    return await _metric(probes, f'contracts_scheduled_turns_total{{task="{task}"}}')


async def _supervisor_ticks(probes: list[str]) -> float:
    return await _metric(probes, "contracts_run_supervisor_ticks_total")


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_one_turn_per_tenant_and_interval_across_two_importers(
    replicas: tuple[AdminApi, list[str]], sim: Any, company: dict[str, Any]
) -> None:
    api, probes = replicas
    await _connect(api, sim, company)
    connected_at = _at((await api.call("GET", f"{BASE}/connection")).body["connected_at"])
    enabled = await api.call("POST", f"{BASE}/automatic-sync")
    assert enabled.status == 200, enabled.body
    shown = (await api.call("GET", f"{BASE}/connection")).body["automatic_sync"]
    enabled_at = _at(shown["enabled_at"])

    # The first reconciliation is planned one interval after connecting, not at once (and the gaps below,
    # which start at connecting, show it came no earlier).
    async def planned() -> str | None:
        schedule = (await api.call("GET", f"{BASE}/connection")).body["schedule"]
        due: str | None = (schedule.get("reconcile") or {}).get("due_at")
        return due

    first_due = _at(await wait_for(planned, timeout=RECONCILE_EVERY, what="the first reconciliation planned"))
    assert first_due - connected_at >= timedelta(seconds=RECONCILE_EVERY)
    assert await _runs(api, "reconcile") == []
    await wait_for(
        lambda: _reconciles_at_least(api, 3), timeout=4 * RECONCILE_EVERY, what="3 reconciliations"
    )
    runs = (await _runs(api, "reconcile"))[:3]
    starts = [connected_at, *(_at(r["created_at"]) for r in runs)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    # Exactly one per interval: never two within an interval (no early renewal, one replica per
    # turn), and never a turn skipped.
    assert all(RECONCILE_EVERY - 0.1 <= gap < RECONCILE_EVERY + 1.5 for gap in gaps), gaps
    assert all(r["status"] == "succeeded" for r in runs), runs
    assert await _turns(probes, "reconcile") == len(await _runs(api, "reconcile"))
    # The incremental pass (Automatic Sync is on) keeps its own, shorter interval, counted alike.
    elapsed = (_at(runs[-1]["created_at"]) - enabled_at).total_seconds()
    delta_turns = await _turns(probes, "delta")
    assert elapsed / DELTA_EVERY - 2 <= delta_turns <= elapsed / DELTA_EVERY + 1, (elapsed, delta_turns)
    schedule = (await api.call("GET", f"{BASE}/connection")).body["schedule"]
    assert _at(schedule["reconcile"]["due_at"]) > _at(schedule["reconcile"]["last_at"])
    assert schedule["delta"]["last_at"] is not None


async def _reconciles_at_least(api: AdminApi, n: int) -> bool:
    runs = await _runs(api, "reconcile")
    return len(runs) >= n and all(r["status"] not in ("queued", "running") for r in runs[:n])


async def test_an_edit_without_a_webhook_arrives_through_the_incremental_pass(
    replicas: tuple[AdminApi, list[str]], sim: Any, company: dict[str, Any]
) -> None:
    api, _ = replicas
    cid = await _connect(api, sim, company)
    imported = await api.wait_run(TENANT, await api.start_import(TENANT))
    assert imported["status"] == "succeeded", imported
    enabled = await api.call("POST", f"{BASE}/automatic-sync")
    assert enabled.status == 200, enabled.body
    record = (await sim.list_records(cid))[0]
    # A property edit: Ironclad has no webhook for it.
    await sim.edit_record(cid, record["id"], name="Edited in Ironclad, no webhook")

    async def arrived() -> bool:
        answer = await api.call("GET", f"{CONTRACTS}/{record['id']}")
        return bool(answer.body["ironclad"]["name"] == "Edited in Ironclad, no webhook")

    await wait_for(arrived, timeout=3 * DELTA_EVERY + 5, what="the edit, through the incremental pass")
    deltas = [r for r in await _runs(api, RunKind.DELTA.value) if r["updated"]]
    assert deltas, "the edit came through a delta run"
    # The contract is written before its slot is counted: wait for the run to settle.
    delta = await api.wait_run(TENANT, deltas[-1]["run_id"], timeout=10)
    assert delta["status"] == "succeeded", delta
    assert delta["updated"] == 1


async def test_a_stalled_run_is_failed_with_its_reason_and_not_rescanned(
    replicas: tuple[AdminApi, list[str]], stack: Stack, sim: Any, company: dict[str, Any]
) -> None:
    api, probes = replicas
    await _connect(api, sim, company)
    db = Database.connect(stack.mongodb_url, stack.database)
    try:
        runs = Runs(db)
        # A planned import whose page tasks were lost (say, dead-lettered): nothing will move it.
        run = await runs.create(TENANT, RunKind.IMPORT)
        await runs.start(TENANT, run["_id"])
        await runs.plan(TENANT, run["_id"], total=300, pages_total=3, listing_complete=False)

        async def recounted() -> Any:
            doc = await runs.get(TENANT, run["_id"])
            return doc and doc.get("recounted_at")

        first_recount = await wait_for(recounted, timeout=STALL_AFTER, what="a recount of the quiet run")
        # Several looks of each replica's supervisor at the quiet run: it is not recounted again.
        looked = await _supervisor_ticks(probes)

        async def looked_again() -> bool:
            return await _supervisor_ticks(probes) >= looked + 6

        await wait_for(looked_again, timeout=STALL_AFTER, what="six more supervisor ticks")
        still = await runs.get(TENANT, run["_id"])
        assert still is not None
        assert still["status"] == "running"
        assert still["recounted_at"] == first_recount

        async def failed() -> Any:
            doc = await runs.get(TENANT, run["_id"])
            return doc if doc and doc["status"] != "running" else None

        ended = await wait_for(failed, timeout=STALL_AFTER + 3, what="the stalled run failed")
        assert ended["status"] == "failed"
        assert "no progress for" in ended["error"]
        assert "dead-letter" in ended["error"]
    finally:
        await db.close()


async def test_the_health_check_repairs_a_disabled_webhook_on_its_interval(
    replicas: tuple[AdminApi, list[str]], sim: Any, company: dict[str, Any]
) -> None:
    api, probes = replicas
    await _connect(api, sim, company)
    enabled = await api.call("POST", f"{BASE}/automatic-sync")
    assert enabled.status == 200, enabled.body
    old = enabled.body["webhook_ids"]
    await sim.disable_webhook_by_system(old[0])

    async def repaired() -> Any:
        sync = (await api.call("GET", f"{BASE}/connection")).body["automatic_sync"]
        return sync if sync.get("reregistrations") else None

    sync = await wait_for(repaired, timeout=2 * HEALTH_EVERY + 3, what="the webhook registered again")
    assert sync["webhook_ids"] != old
    assert sync["webhook_state"] == "enabled"
    assert sync["reregistrations"] == 1
    assert await _turns(probes, "webhook_health") >= 1


async def test_no_false_deletion_while_people_edit_during_scheduled_reconciliations(
    replicas: tuple[AdminApi, list[str]], sim: Any, company: dict[str, Any]
) -> None:
    api, _ = replicas
    cid = await _connect(api, sim, company, count=220)
    imported = await api.wait_run(TENANT, await api.start_import(TENANT), timeout=60)
    assert imported["status"] == "succeeded", imported
    await sim.set_churn(cid, edits=3, deletes=1, creates=1, seed=5)
    await wait_for(
        lambda: _reconciles_at_least(api, 2), timeout=4 * RECONCILE_EVERY, what="2 reconciliations"
    )
    churn = await sim.stop_churn(cid)
    assert churn is not None
    assert churn["deleted"], "the churn deleted records"
    await wait_for(lambda: _reconciles_at_least(api, 3), timeout=3 * RECONCILE_EVERY, what="a quiet one")
    records = {r["id"]: r for r in await sim.list_records(cid)}
    contracts = await api.all_contracts(TENANT)
    wrongly = [c["ironclad"]["id"] for c in contracts if c["deleted"] and c["ironclad"]["id"] in records]
    assert not wrongly, f"live records marked deleted: {wrongly}"
    live = {c["ironclad"]["id"]: c for c in contracts if not c["deleted"]}
    assert sorted(live) == sorted(records)
    assert all(live[rid]["ironclad"]["lastUpdated"] == r["lastUpdated"] for rid, r in records.items())
    assert sorted(c["ironclad"]["id"] for c in contracts if c["deleted"]) == sorted(churn["deleted"])
