"""R27 through kill -9: a consumer follows the change feed while two mapper processes store an import
and the one recording the feed is killed mid-import; a reconciliation then deletes some contracts. The
consumer's picture equals MongoDB's. Real child processes, the real broker and database."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from tests.fault.support import TENANT, Mongo, Workers, connect, kill9
from tests.integration.feed.support import (
    Follower,
    delete_and_reconcile,
    diff,
    following,
    mongo_picture,
    mongo_versions,
)
from tests.support.api import TERMINAL, AdminApi
from tests.support.services import ServiceProcess, Stack, wait_for

pytestmark = pytest.mark.fault

LEASE = {"CHANGE_FEED_ENABLED": "true", "CHANGE_FEED_LEASE_SECONDS": "3"}


@pytest.fixture
def roomy_deliveries(stack: Stack) -> None:
    """A kill counts as a delivery of every message the victim held: give deliveries room."""
    stack.shared_settings["DELIVERY_LIMIT"] = "20"


async def _recorder_pid(db: Mongo) -> int | None:
    lease = await db.db.leases.find_one({"tenant": "_system", "name": "change_feed_recorder"})
    if lease is None:
        return None
    # owner: mapper@<host>:<pid>:<random>
    return int(str(lease["owner"]).rsplit(":", 2)[1])


async def test_r27_follower_misses_nothing_when_the_recording_mapper_is_killed_mid_import(
    roomy_deliveries: None, api: AdminApi, procs: Workers, db: Mongo, sim: Any, company: dict[str, Any]
) -> None:
    cid = company["company_id"]
    await sim.seed(cid, count=400, seed=27, document_ratio=0.0)
    await sim.set_config(latency_ms=40)
    await connect(api, company)
    settings = {"PAGE_SIZE": 25, "IRONCLAD_CONCURRENCY": 2, **LEASE}
    await procs.start("importer", **settings)
    mappers: list[ServiceProcess] = [
        await procs.start("mapper", **settings),
        await procs.start("mapper", **settings),
    ]

    async def recording() -> bool:
        return await db.db.feed_state.find_one({"_id": "stream"}) is not None

    await wait_for(recording, timeout=30, what="a feed recorder")
    follower = Follower(api, TENANT)
    async with following(follower):
        run_id = await api.start_import(TENANT)

        async def some_stored() -> bool:
            return int(await db.db.contracts.count_documents({"tenant": TENANT})) >= 60

        await wait_for(some_stored, timeout=60, what="part of the import stored")
        holder = await _recorder_pid(db)
        victim = next(m for m in mappers if m.proc is not None and m.proc.pid == holder)
        await kill9(victim)
        assert (await db.run(run_id))["status"] not in TERMINAL, "the import ended before the kill"
        mappers.remove(victim)
        mappers.append(await procs.start("mapper", **settings))
        # Edits while the import goes on without its first recorder.
        records = await sim.list_records(cid)
        for n, record in enumerate(records[::50]):
            await sim.edit_record(cid, record["id"], name=f"edited after the kill {n}")

        async def taken_over() -> bool:
            pid = await _recorder_pid(db)
            return pid is not None and pid != holder

        await wait_for(taken_over, timeout=30, what="another mapper to take the feed over")
        run = await api.wait_run(TENANT, run_id, timeout=180)
        assert run["status"] == "succeeded", run

        gone = [r["id"] for r in records[7::40]]
        await delete_and_reconcile(api, sim, TENANT, cid, gone, timeout=180)

        stored = await mongo_picture(db.db, TENANT)
        assert len(stored) == 400

        async def caught_up() -> bool:
            return follower.picture() == stored

        with contextlib.suppress(AssertionError):
            await wait_for(caught_up, timeout=30, what="the follower to catch up")
        assert follower.picture() == stored, diff(follower.picture(), stored)
        await asyncio.sleep(0)
    versions = await mongo_versions(db.db, TENANT)
    shown = {k: c["ironclad"]["lastUpdated"] for k, c in follower.last_contract.items() if k in versions}
    assert shown == versions
    assert sum(a == "deleted" for a in follower.last_action.values()) == len(gone)
    # Seqs stay consecutive across the takeover (a replay adds rows, never leaves a hole).
    assert follower.cursors == list(range(1, len(follower.cursors) + 1))
    print(f"rows read {len(follower.cursors)} for {len(stored)} contracts (duplicates from the replay)")
