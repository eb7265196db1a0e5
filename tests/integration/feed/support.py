"""A consumer of the change feed, as Contracts AI would write one, and MongoDB's view to compare it with."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient

from tests.support.api import AdminApi
from tests.support.services import Stack


@dataclass
class Follower:
    """Follows `GET .../changes` with `next_cursor`, as a consumer would: its picture is the last action
    and the last contract it was shown, per contract."""

    api: AdminApi
    tenant: str
    limit: int = 200
    cursor: str | None = None
    last_action: dict[str, str] = field(default_factory=dict)
    last_contract: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursors: list[int] = field(default_factory=list)
    pages: int = 0

    async def poll(self) -> int:
        query = f"limit={self.limit}" + (f"&cursor={self.cursor}" if self.cursor is not None else "")
        answer = await self.api.call("GET", f"/api/v1/tenants/{self.tenant}/changes?{query}")
        assert answer.status == 200, answer.body
        self.pages += 1
        items = answer.body["items"]
        for item in items:
            seq = int(item["cursor"])
            assert not self.cursors or seq > self.cursors[-1], (self.cursors[-1], item)
            self.cursors.append(seq)
            self.last_action[item["contract_id"]] = item["action"]
            if item["action"] == "deleted":
                assert "contract" not in item, item
            else:
                assert item["contract"]["contract_id"] == item["contract_id"], item
                self.last_contract[item["contract_id"]] = item["contract"]
        self.cursor = answer.body["next_cursor"]
        if items:
            assert self.cursor == items[-1]["cursor"]
        return len(items)

    async def run(self, pause: float = 0.2) -> None:
        while True:
            if not await self.poll():
                await asyncio.sleep(pause)

    def picture(self) -> dict[str, str]:
        return {cid: "deleted" if action == "deleted" else "live" for cid, action in self.last_action.items()}


@contextlib.asynccontextmanager
async def following(follower: Follower) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(follower.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def mongo_db(stack: Stack) -> AsyncIterator[Any]:
    client: AsyncMongoClient[Any] = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    try:
        yield client[stack.database]
    finally:
        await client.close()


async def mongo_picture(db: Any, tenant: str) -> dict[str, str]:
    return {
        str(d["_id"]): "deleted" if d.get("deleted") else "live"
        async for d in db.contracts.find({"tenant": tenant}, {"deleted": 1})
    }


async def mongo_versions(db: Any, tenant: str) -> dict[str, str]:
    return {
        str(d["_id"]): d["ironclad"]["lastUpdated"]
        async for d in db.contracts.find({"tenant": tenant, "deleted": False}, {"ironclad.lastUpdated": 1})
    }


async def feed_recording(db: Any) -> bool:
    """The recorder has opened its change stream (it saves where it started)."""
    return await db.feed_state.find_one({"_id": "stream"}) is not None


def diff(seen: dict[str, str], stored: dict[str, str]) -> dict[str, Any]:
    both = set(seen) & set(stored)
    return {
        "never_seen": sorted(set(stored) - set(seen))[:10],
        "unknown": sorted(set(seen) - set(stored))[:10],
        "wrong_state": sorted((k, seen[k], stored[k]) for k in both if seen[k] != stored[k])[:10],
    }


async def delete_and_reconcile(
    api: AdminApi, sim: Any, tenant: str, company_id: str, record_ids: list[str], *, timeout: float
) -> None:
    """Delete records in Ironclad, then a reconciliation marks exactly those deleted."""
    for record_id in record_ids:
        await sim.delete_record(company_id, record_id)
    answer = await api.call("POST", f"/api/v1/tenants/{tenant}/ironclad/reconcile")
    assert answer.status == 202, answer.body
    run = await api.wait_run(tenant, answer.body["run_id"], timeout=timeout)
    assert run["deleted"] == len(record_ids), run
