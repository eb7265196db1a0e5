"""Sync runs: creation, counting and the terminal status.

Counters always add up: `fetched` and exactly one outcome counter are incremented together, and each
listing slot (a position in a page, or a record of a webhook batch) is counted once per run however
often its message is redelivered, through a unique `run_items` row.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts_common.messages import RunKind
from contracts_common.metrics import RUNS_FINISHED
from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import iso, utcnow

MAX_STORED_ERRORS = 200
COUNTER_SHARDS = 8


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"
    FAILED = "failed"


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED_STALE = "skipped_stale"
    FAILED = "failed"


TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED, RunStatus.FAILED})
ACTIVE = [RunStatus.QUEUED.value, RunStatus.RUNNING.value]
# Counters of the fetched-sum, kept exactly in `run_counters` (see Runs.count_slots).
SLOT_COUNTERS = ("fetched", "created", "updated", "unchanged", "skipped_stale", "failed", "mapping_errors")
COUNTERS = (
    "fetched",
    "created",
    "updated",
    "unchanged",
    "skipped_stale",
    "failed",
    "deleted",
    "documents_downloaded",
    "documents_reused",
    "documents_failed",
    "mapping_errors",
)


def new_run_document(tenant: str, kind: RunKind, *, max_contracts: int | None = None) -> Document:
    now = utcnow()
    return {
        "_id": uuid.uuid4().hex,
        "tenant": tenant,
        "kind": kind.value,
        "status": RunStatus.QUEUED.value,
        "created_at": now,
        "updated_at": now,
        "started_at": None,
        "finished_at": None,
        "max_contracts": max_contracts,
        # Planned work: `total` records over `pages_total` pages; `expected` is corrected when a page
        # turns out shorter than planned (records deleted in Ironclad meanwhile).
        "total": None,
        "expected": None,
        "pages_total": None,
        "pages_done": 0,
        "listing_complete": False,
        **dict.fromkeys(COUNTERS, 0),
        "errors": [],
        "error": None,
    }


class Runs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, tenant: str, kind: RunKind, *, max_contracts: int | None = None) -> Document:
        doc = new_run_document(tenant, kind, max_contracts=max_contracts)
        await self._db.runs.insert_one(doc)
        return doc

    async def get(self, tenant: str, run_id: str) -> Document | None:
        run = await self._db.runs.find_one({"_id": run_id, "tenant": tenant})
        return None if run is None else (await self._with_counters(tenant, [run]))[0]

    async def recent(self, tenant: str, *, limit: int = 50, kind: str | None = None) -> list[Document]:
        query: dict[str, Any] = {"tenant": tenant}
        if kind:
            query["kind"] = kind
        cursor = self._db.runs.find(query, {"errors": {"$slice": 20}}).sort("created_at", -1).limit(limit)
        return await self._with_counters(tenant, [doc async for doc in cursor])

    async def has_active(self, tenant: str, kind: RunKind) -> Document | None:
        return await self._db.runs.find_one({"tenant": tenant, "kind": kind.value, "status": {"$in": ACTIVE}})

    async def start(self, tenant: str, run_id: str) -> Document | None:
        """queued → running; None if the run is already terminal (cancelled, finished)."""
        now = utcnow()
        return await self._db.runs.find_one_and_update(
            {"_id": run_id, "tenant": tenant, "status": {"$in": ACTIVE}},
            [
                {
                    "$set": {
                        "status": RunStatus.RUNNING.value,
                        "updated_at": now,
                        "started_at": {"$ifNull": ["$started_at", now]},
                    }
                }
            ],
            return_document=ReturnDocument.AFTER,
        )

    async def plan(
        self, tenant: str, run_id: str, *, total: int, pages_total: int, listing_complete: bool = True
    ) -> None:
        """Store the planned work once. A reconciliation's listing is complete only after its last page."""
        await self._db.runs.update_one(
            {"_id": run_id, "tenant": tenant, "pages_total": None},
            {
                "$set": {
                    "total": total,
                    "expected": total,
                    "pages_total": pages_total,
                    "listing_complete": listing_complete,
                    "updated_at": utcnow(),
                }
            },
        )

    async def mark_listing_complete(self, tenant: str, run_id: str, *, deleted: int = 0) -> None:
        await self._db.runs.update_one(
            {"_id": run_id, "tenant": tenant, "listing_complete": False},
            {"$set": {"listing_complete": True, "deleted": deleted, "updated_at": utcnow()}},
        )

    async def is_active(self, tenant: str, run_id: str) -> bool:
        doc = await self._db.runs.find_one({"_id": run_id, "tenant": tenant}, {"status": 1})
        return doc is not None and doc["status"] in ACTIVE

    async def count_slots(
        self,
        tenant: str,
        run_id: str,
        items: Sequence[tuple[str, Outcome, str | None]],
        *,
        extra: dict[str, int] | None = None,
        errors: Sequence[Document] = (),
    ) -> Document | None:
        """Count (slot, outcome, record_id) items not counted before; returns the run after counting.

        A `run_items` row per slot decides once and for all that a slot is counted; the counters are
        then incremented. A consumer killed between the two leaves a slot counted in `run_items` only:
        `recount` (run by the importer's run supervisor when a run stops moving) repairs that exactly.
        """
        for _ in range(5):
            existing = {
                doc["slot"]
                async for doc in self._db.run_items.find(
                    {"tenant": tenant, "run_id": run_id, "slot": {"$in": [slot for slot, _, _ in items]}},
                    {"slot": 1},
                )
            }
            fresh = [item for item in items if item[0] not in existing]
            if not fresh:
                return await self.try_finish(tenant, run_id)
            await self._count_fresh(tenant, run_id, fresh, extra or {})
            if errors:
                await self._db.runs.update_one(
                    {"_id": run_id, "tenant": tenant},
                    {"$push": {"errors": {"$each": list(errors), "$slice": MAX_STORED_ERRORS}}},
                )
            return await self.try_finish(tenant, run_id)
        raise RuntimeError(f"could not count slots of run {run_id}: persistent conflicts")

    async def _count_fresh(
        self,
        tenant: str,
        run_id: str,
        fresh: Sequence[tuple[str, Outcome, str | None]],
        extra: dict[str, int],
    ) -> None:
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {
                "tenant": tenant,
                "run_id": run_id,
                "slot": slot,
                "outcome": outcome.value,
                "record_id": rid,
                "created_at": now,
            }
            for slot, outcome, rid in fresh
        ]
        if extra.get("mapping_errors"):
            rows[0]["mapping_errors"] = extra["mapping_errors"]
        try:
            await self._db.run_items.insert_many(rows, ordered=False)
            inserted = rows
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            # A concurrent delivery counted some of these slots first: count only the rows that went in.
            refused = {e["index"] for e in errors}
            inserted = [row for index, row in enumerate(rows) if index not in refused]
        # Counters are spread over a few shard documents so concurrent consumers rarely conflict.
        by_shard: dict[int, dict[str, int]] = {}
        for row in inserted:
            inc = by_shard.setdefault(zlib.crc32(row["slot"].encode()) % COUNTER_SHARDS, {})
            inc["fetched"] = inc.get("fetched", 0) + 1
            inc[row["outcome"]] = inc.get(row["outcome"], 0) + 1
            if row.get("mapping_errors"):
                inc["mapping_errors"] = inc.get("mapping_errors", 0) + row["mapping_errors"]
        for shard, inc in by_shard.items():
            await self._db.run_counters.update_one(
                {"_id": f"{run_id}:{shard}"},
                {
                    "$inc": inc,
                    "$max": {"updated_at": now},
                    "$setOnInsert": {"tenant": tenant, "run_id": run_id, "shard": shard},
                },
                upsert=True,
            )

    async def recount(self, tenant: str, run_id: str) -> None:
        """Recompute a run's counters exactly from its `run_items` and `run_pages` rows."""
        totals = dict.fromkeys(SLOT_COUNTERS, 0)
        async for row in self._db.run_items.find(
            {"tenant": tenant, "run_id": run_id}, {"outcome": 1, "mapping_errors": 1}
        ):
            totals["fetched"] += 1
            totals[row["outcome"]] += 1
            totals["mapping_errors"] += int(row.get("mapping_errors", 0))
        pages = [
            page
            async for page in self._db.run_pages.find(
                {"tenant": tenant, "run_id": run_id}, {"listed": 1, "planned": 1}
            )
        ]
        run = await self._db.runs.find_one({"_id": run_id, "tenant": tenant}, {"total": 1})
        if run is None:
            return
        exact_id = f"{run_id}:exact"
        await self._db.run_counters.replace_one(
            {"_id": exact_id},
            {"tenant": tenant, "run_id": run_id, "shard": "exact", **totals, "updated_at": utcnow()},
            upsert=True,
        )
        await self._db.run_counters.delete_many(
            {"tenant": tenant, "run_id": run_id, "_id": {"$ne": exact_id}}
        )
        update: dict[str, Any] = {"pages_done": len(pages)}
        if run.get("total") is not None:
            update["expected"] = run["total"] + sum(p.get("listed", 0) - p.get("planned", 0) for p in pages)
        await self._db.runs.update_one({"_id": run_id, "tenant": tenant}, {"$set": update})

    async def last_activity(self, tenant: str, run: Document) -> datetime:
        latest: datetime = run["updated_at"]
        async for shard in self._db.run_counters.find(
            {"tenant": tenant, "run_id": run["_id"]}, {"updated_at": 1}
        ):
            if shard.get("updated_at") and shard["updated_at"] > latest:
                latest = shard["updated_at"]
        return latest

    async def running(self) -> list[Document]:
        return [doc async for doc in self._db.runs.find({"status": RunStatus.RUNNING.value})]

    async def counters(self, tenant: str, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        totals: dict[str, dict[str, int]] = {run_id: dict.fromkeys(SLOT_COUNTERS, 0) for run_id in run_ids}
        async for doc in self._db.run_counters.find({"tenant": tenant, "run_id": {"$in": list(run_ids)}}):
            total = totals[doc["run_id"]]
            for key in SLOT_COUNTERS:
                total[key] += int(doc.get(key, 0))
        return totals

    async def _with_counters(self, tenant: str, runs: list[Document]) -> list[Document]:
        if not runs:
            return runs
        totals = await self.counters(tenant, [r["_id"] for r in runs])
        return [{**run, **totals[run["_id"]]} for run in runs]

    async def add(self, tenant: str, run_id: str, counters: dict[str, int]) -> None:
        """Counters outside the fetched-sum (documents, deleted), where idempotency is the caller's."""
        await self._db.runs.update_one(
            {"_id": run_id, "tenant": tenant}, {"$inc": counters, "$set": {"updated_at": utcnow()}}
        )

    async def complete_page(self, tenant: str, run_id: str, page: int, *, listed: int, planned: int) -> bool:
        """Checkpoint a page once; False if it was already done (a redelivered page task).

        The row keeps `listed` and `planned`, so `recount` can rebuild the page counters exactly if a
        crash falls between the checkpoint and the increment below.
        """
        try:
            await self._db.run_pages.insert_one(
                {
                    "_id": f"{run_id}:{page}",
                    "tenant": tenant,
                    "run_id": run_id,
                    "page": page,
                    "listed": listed,
                    "planned": planned,
                    "done_at": utcnow(),
                }
            )
        except DuplicateKeyError:
            return False
        await self._db.runs.update_one(
            {"_id": run_id, "tenant": tenant},
            {"$inc": {"pages_done": 1, "expected": listed - planned}, "$set": {"updated_at": utcnow()}},
        )
        await self.try_finish(tenant, run_id)
        return True

    async def page_done(self, tenant: str, run_id: str, page: int) -> bool:
        return await self._db.run_pages.find_one({"_id": f"{run_id}:{page}", "tenant": tenant}) is not None

    async def try_finish(self, tenant: str, run_id: str) -> Document | None:
        """Give the run its terminal status once all its planned work is counted."""
        run = await self.get(tenant, run_id)
        if run is None or run["status"] not in ACTIVE or run["pages_total"] is None:
            return run
        if run["pages_done"] < run["pages_total"] or run["fetched"] < (run["expected"] or 0):
            return run
        if not run.get("listing_complete"):
            return run
        # The running counters say the run is complete: settle it on exact counts (see count_slots).
        await self.recount(tenant, run_id)
        run = await self.get(tenant, run_id)
        if run is None or run["fetched"] < (run["expected"] or 0) or run["pages_done"] < run["pages_total"]:
            return run
        return await self.finish(tenant, run_id, status=final_status(run))

    async def finish(
        self, tenant: str, run_id: str, *, status: RunStatus, error: str | None = None, force: bool = False
    ) -> Document | None:
        query: dict[str, Any] = {"_id": run_id, "tenant": tenant}
        if not force:
            query["status"] = {"$in": ACTIVE}
        now = utcnow()
        update: dict[str, Any] = {"status": status.value, "finished_at": now, "updated_at": now}
        if error is not None:
            update["error"] = error
        doc = await self._db.runs.find_one_and_update(
            query, {"$set": update}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            return None
        RUNS_FINISHED.labels(kind=doc["kind"], status=status.value).inc()
        return (await self._with_counters(tenant, [doc]))[0]

    async def fail(self, tenant: str, run_id: str, error: str) -> Document | None:
        """End a run because of an error: never `succeeded`; `partially_succeeded` if some work landed."""
        run = await self.get(tenant, run_id)
        if run is None:
            return None
        done = run["created"] + run["updated"] + run["unchanged"] + run["deleted"]
        status = RunStatus.PARTIALLY_SUCCEEDED if done > 0 else RunStatus.FAILED
        return await self.finish(tenant, run_id, status=status, error=error)

    async def cancel_active(self, tenant: str, reason: str) -> int:
        result = await self._db.runs.update_many(
            {"tenant": tenant, "status": {"$in": ACTIVE}},
            {"$set": {"status": RunStatus.FAILED.value, "error": reason, "finished_at": utcnow()}},
        )
        return result.modified_count


def final_status(run: Document) -> RunStatus:
    if run.get("error"):
        return RunStatus.PARTIALLY_SUCCEEDED if run["fetched"] > run["failed"] else RunStatus.FAILED
    if run["failed"] == 0:
        return RunStatus.SUCCEEDED
    return RunStatus.PARTIALLY_SUCCEEDED if run["fetched"] > run["failed"] else RunStatus.FAILED


def public_run(run: Document) -> dict[str, Any]:
    """A run as the admin API shows it."""
    out = {k: v for k, v in run.items() if k not in ("_id", "listing_complete")}
    out["run_id"] = run["_id"]
    out["progress"] = {
        "fetched": run["fetched"],
        "total": run["expected"] if run["expected"] is not None else run["total"],
    }
    out["repaired"] = (
        run["created"] + run["updated"] + run["deleted"] if run["kind"] == RunKind.RECONCILE else None
    )
    for key in ("created_at", "updated_at", "started_at", "finished_at"):
        out[key] = iso(out.get(key))
    return out
