"""Sync runs: creation, counting and the terminal status.

Counters always add up: `fetched` and exactly one outcome counter are incremented together, and each
listing slot (a position in a page, or a record of a webhook batch) is counted once per run however
often its message is redelivered, through a unique `run_items` row.

One file on purpose: a run's counters, the rows they are rebuilt from and the rule that finishes the
run must agree exactly (R16); they are read together.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contracts_common.messages import RunKind
from contracts_common.metrics import RUNS_FINISHED
from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import iso, utcnow

MAX_STORED_ERRORS = 200


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


@dataclass(frozen=True)
class Counted:
    """One slot of a run: its outcome, and the counts that come with it."""

    slot: str
    outcome: Outcome
    record_id: str | None
    mapping_errors: int = 0
    documents_downloaded: int = 0
    documents_failed: int = 0
    # How many records the slot stands for: a re-map counts a whole batch's outcome in one row.
    weight: int = 1

    def row(self, tenant: str, run_id: str, now: datetime) -> dict[str, Any]:
        row: dict[str, Any] = {
            "tenant": tenant,
            "run_id": run_id,
            "slot": self.slot,
            "outcome": self.outcome.value,
            "record_id": self.record_id,
            "created_at": now,
        }
        for counter in ROW_EXTRAS:
            if getattr(self, counter):
                row[counter] = getattr(self, counter)
        if self.weight != 1:
            row["weight"] = self.weight
        return row


def _counts_of(row: dict[str, Any]) -> dict[str, int]:
    weight = int(row.get("weight", 1))
    counts = {"fetched": weight, row["outcome"]: weight}
    for counter in ROW_EXTRAS:
        if row.get(counter):
            counts[counter] = int(row[counter])
    return counts


TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.PARTIALLY_SUCCEEDED, RunStatus.FAILED})
ACTIVE = [RunStatus.QUEUED.value, RunStatus.RUNNING.value]
# Counters rebuilt exactly from `run_items` rows (see Runs.count): the fetched-sum, and what each slot
# carried along (so a document is counted once, however often its record's message is redelivered).
ROW_EXTRAS = ("mapping_errors", "documents_downloaded", "documents_failed")
ROW_COUNTERS = ("fetched", *(o.value for o in Outcome), *ROW_EXTRAS)
COUNTERS = (
    "fetched",
    "created",
    "updated",
    "unchanged",
    "skipped_stale",
    "failed",
    "deleted",
    "documents_downloaded",
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


# Outcome counters the run statistics sum per bucket (GET .../runs/stats `records`).
STATS_RECORDS = ("created", "updated", "unchanged", "deleted", "failed", "skipped_stale")
# Ironclad requests a run made and how many of them Ironclad answered 429, added with the page
# checkpoints (`complete_page`) rather than written per request (R24).
IRONCLAD_COUNTERS = ("ironclad_requests", "ironclad_rate_limited")
StatsBucket = Literal["hour", "day"]
# Told of every run that reached its terminal status (health.changed detection, see health_status).
OnTerminal = Callable[[Document], Awaitable[None]]
# Announces a finished run (Notifier.run_finished); True once the announcement is durable (confirmed).
RunFinished = Callable[[Document], Awaitable[bool]]


class Runs:
    def __init__(
        self,
        db: Database,
        *,
        on_finish: RunFinished | None = None,
        on_terminal: OnTerminal | None = None,
    ) -> None:
        """`on_finish` is called with the run each time a write gives it its terminal status: once per
        run, whoever finishes it and however often its messages are redelivered (the write that finds
        the run no longer active changes nothing and calls nothing).

        The terminal write also marks the run `announce_pending`, cleared once `on_finish` says the
        announcement is confirmed: a process that dies between the two, a broker that refused it, or a
        store without `on_finish` (the gateway's) leaves the mark, and `announce_overdue` (the importer's
        run supervisor) announces it later. At least once, never lost.

        `on_terminal` then re-judges the tenant's health (health_status.HealthMonitor)."""
        self._db = db
        self._on_finish = on_finish
        self._on_terminal = on_terminal

    async def create(self, tenant: str, kind: RunKind, *, max_contracts: int | None = None) -> Document:
        doc = new_run_document(tenant, kind, max_contracts=max_contracts)
        await self._db.runs.insert_one(doc)
        return doc

    async def create_running(self, tenant: str, kind: RunKind, *, total: int) -> Document:
        """A run whose work is known when it starts (the records of webhook events or of a delta pass):
        created running and planned in one insert, where an import needs three writes at three moments."""
        doc = new_run_document(tenant, kind)
        now = doc["created_at"]
        doc.update(
            status=RunStatus.RUNNING.value,
            started_at=now,
            total=total,
            expected=total,
            pages_total=0,
            listing_complete=True,
        )
        await self._db.runs.insert_one(doc)
        return doc

    async def get(self, tenant: str, run_id: str) -> Document | None:
        return await self._db.runs.find_one({"_id": run_id, "tenant": tenant})

    async def recent(self, tenant: str, *, limit: int = 50, kind: str | None = None) -> list[Document]:
        query: dict[str, Any] = {"tenant": tenant}
        if kind:
            query["kind"] = kind
        cursor = self._db.runs.find(query, {"errors": {"$slice": 20}}).sort("created_at", -1).limit(limit)
        return [doc async for doc in cursor]

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
        self,
        tenant: str,
        run_id: str,
        *,
        total: int,
        pages_total: int,
        listing_complete: bool = True,
        window: PageWindow | None = None,
    ) -> Document | None:
        """Store the planned work once; returns the run as planned (by this call or an earlier one). A
        reconciliation's listing is complete only after its last page.

        A listing's pages are handed out through its `window` (see PageWindow): `pages_published` says
        how many of its first pages were handed out so far.
        """
        planned: dict[str, Any] = {
            "total": total,
            "expected": total,
            "pages_total": pages_total,
            "listing_complete": listing_complete,
            "updated_at": utcnow(),
        }
        if window is not None:
            planned.update(
                page_size=window.page_size,
                window=window.pages,
                pages_published=min(window.published, pages_total),
            )
        run = await self._db.runs.find_one_and_update(
            {"_id": run_id, "tenant": tenant, "pages_total": None},
            {"$set": planned},
            return_document=ReturnDocument.AFTER,
        )
        return run if run is not None else await self.get(tenant, run_id)

    async def claim_pages(self, tenant: str, run_id: str, *, published: int, up_to: int) -> bool:
        """Move `pages_published` from `published` to `up_to`: True for the one caller whose write did,
        who then hands out those pages (compare-and-set, so two callers never hand out the same ones)."""
        result = await self._db.runs.update_one(
            {"_id": run_id, "tenant": tenant, "pages_published": published, "status": {"$in": ACTIVE}},
            {"$set": {"pages_published": up_to}},
        )
        return result.modified_count == 1

    async def pages_not_done(self, tenant: str, run_id: str, below: int) -> list[int]:
        """The pages under `below` that have no checkpoint yet (one read of the run's checkpoints)."""
        done = {
            row["page"]
            async for row in self._db.run_pages.find(
                {"tenant": tenant, "run_id": run_id}, {"page": 1, "_id": 0}
            )
        }
        return [page for page in range(below) if page not in done]

    async def progressed(self, tenant: str, run_id: str) -> None:
        """Work that moves no counter moved the run (a closing pass reading Ironclad again): the run
        supervisor, which judges a run by `updated_at`, does not take it for stalled."""
        await self._db.runs.update_one(
            {"_id": run_id, "tenant": tenant, "status": RunStatus.RUNNING.value},
            {"$set": {"updated_at": utcnow()}},
        )

    async def mark_listing_complete(
        self, tenant: str, run_id: str, *, deleted: int = 0, ironclad: dict[str, int] | None = None
    ) -> None:
        """Once per run; `ironclad`: the closing pass's requests, added with this write (see
        complete_page)."""
        update: dict[str, Any] = {
            "$set": {"listing_complete": True, "deleted": deleted, "updated_at": utcnow()}
        }
        counted = {name: n for name, n in (ironclad or {}).items() if name in IRONCLAD_COUNTERS and n}
        if counted:
            update["$inc"] = counted
        await self._db.runs.update_one({"_id": run_id, "tenant": tenant, "listing_complete": False}, update)

    async def count(
        self, tenant: str, run_id: str, items: Sequence[Counted], *, errors: Sequence[Document] = ()
    ) -> Document | None:
        """Count the items not counted before; returns the run after counting (finished if it is done).

        Two writes per batch, whatever its size: one `insert_many` of `run_items` rows, whose unique slot
        decides once and for all that a slot is counted, then one `$inc` of the rows that went in, which
        also returns the run, so nobody reads it back to learn whether it is done. A consumer killed
        between the two leaves rows without their increment: `recount` (run by the importer's run
        supervisor when a run stops moving, and before any run is finished) rebuilds the counters from
        the rows exactly.
        """
        now = utcnow()
        rows = [item.row(tenant, run_id, now) for item in items]
        inserted = await self._insert_new(rows)
        inc: dict[str, int] = {}
        for row in inserted:
            for counter, amount in _counts_of(row).items():
                inc[counter] = inc.get(counter, 0) + amount
        update: dict[str, Any] = {}
        if inc:
            update["$inc"] = inc
            update["$set"] = {"updated_at": now}
        if errors and inserted:
            update["$push"] = {"errors": {"$each": list(errors), "$slice": MAX_STORED_ERRORS}}
        if not update:
            run = await self._db.runs.find_one({"_id": run_id, "tenant": tenant})
        else:
            run = await self._db.runs.find_one_and_update(
                {"_id": run_id, "tenant": tenant}, update, return_document=ReturnDocument.AFTER
            )
        return await self._finish_if_done(run)

    async def _insert_new(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return []
        try:
            await self._db.run_items.insert_many(rows, ordered=False)
        except BulkWriteError as exc:
            write_errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in write_errors):
                raise
            # Another delivery counted some of these slots first: count only the rows that went in.
            refused = {e["index"] for e in write_errors}
            return [row for index, row in enumerate(rows) if index not in refused]
        return rows

    async def recount(self, tenant: str, run_id: str) -> Document | None:
        """Recompute a run's counters exactly from its `run_items` and `run_pages` rows; returns the run.

        Three reads and one write, however large the run. A recount is not progress: `updated_at` stays,
        `recounted_at` records it, so the supervisor neither takes it for activity nor repeats it while
        nothing moves.
        """
        totals = dict.fromkeys(ROW_COUNTERS, 0)
        group: dict[str, Any] = {"_id": "$outcome", "rows": {"$sum": {"$ifNull": ["$weight", 1]}}}
        for counter in ROW_EXTRAS:
            group[counter] = {"$sum": {"$ifNull": [f"${counter}", 0]}}
        async for bucket in await self._db.run_items.aggregate(
            [{"$match": {"tenant": tenant, "run_id": run_id}}, {"$group": group}]
        ):
            totals["fetched"] += int(bucket["rows"])
            totals[str(bucket["_id"])] += int(bucket["rows"])
            for counter in ROW_EXTRAS:
                totals[counter] += int(bucket.get(counter) or 0)
        pages_done, listed, shortfall = 0, 0, 0
        async for bucket in await self._db.run_pages.aggregate(
            [
                {"$match": {"tenant": tenant, "run_id": run_id}},
                {
                    "$group": {
                        "_id": None,
                        "pages": {"$sum": 1},
                        "listed": {"$sum": "$listed"},
                        "shortfall": {"$sum": {"$subtract": ["$listed", "$planned"]}},
                    }
                },
            ]
        ):
            pages_done, listed, shortfall = (
                int(bucket["pages"]),
                int(bucket["listed"]),
                int(bucket["shortfall"]),
            )
        # `expected` = planned total, corrected by short pages, plus what closing passes added.
        return await self._db.runs.find_one_and_update(
            {"_id": run_id, "tenant": tenant},
            [
                {
                    "$set": {
                        **totals,
                        "pages_done": pages_done,
                        "listed": listed,
                        "expected": {
                            "$cond": [
                                {"$eq": ["$total", None]},
                                "$expected",
                                {"$add": ["$total", shortfall, {"$ifNull": ["$added", 0]}]},
                            ]
                        },
                        "recounted_at": utcnow(),
                    }
                }
            ],
            return_document=ReturnDocument.AFTER,
        )

    async def quiet(self, since: datetime, limit: int = 500) -> list[Document]:
        """Running runs that have not moved since `since`, the quietest first: one query on the
        (status, updated_at) index, however many runs of however many tenants are moving."""
        cursor = (
            self._db.runs.find(
                {"status": RunStatus.RUNNING.value, "updated_at": {"$lt": since}}, {"errors": 0}
            )
            .sort("updated_at", 1)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def add_expected(self, tenant: str, run_id: str, added: int) -> None:
        """More (or fewer) slots than planned, e.g. records a closing pass found; kept apart from `total`
        so `recount` can rebuild `expected`. Idempotency is the caller's."""
        await self._db.runs.update_one(
            {"_id": run_id, "tenant": tenant},
            {"$inc": {"expected": added, "added": added}, "$set": {"updated_at": utcnow()}},
        )

    async def plan_closing(self, tenant: str, run_id: str, record_ids: list[str]) -> list[str]:
        """Store the records a listing's closing pass hands off, once; returns the stored plan (ours, or
        the one an earlier delivery stored), whose slots the run then waits for."""
        added = len(record_ids)
        run = await self._db.runs.find_one_and_update(
            {"_id": run_id, "tenant": tenant, "closing_ids": None},
            {
                "$set": {"closing_ids": record_ids, "updated_at": utcnow()},
                "$inc": {"expected": added, "added": added},
            },
            return_document=ReturnDocument.AFTER,
        )
        if run is None:
            run = await self.get(tenant, run_id)
        return list((run or {}).get("closing_ids") or [])

    async def complete_page(
        self,
        tenant: str,
        run_id: str,
        page: int,
        *,
        listed: int,
        planned: int,
        ironclad: dict[str, int] | None = None,
    ) -> Document | None:
        """Checkpoint a page once; returns the run after it, None if it was already done (a redelivery).

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
            return None
        inc = {"pages_done": 1, "expected": listed - planned, "listed": listed}
        # The page's Ironclad requests ride on its checkpoint's write: no write of their own.
        inc |= {name: amount for name, amount in (ironclad or {}).items() if name in IRONCLAD_COUNTERS}
        run = await self._db.runs.find_one_and_update(
            {"_id": run_id, "tenant": tenant},
            {"$inc": inc, "$set": {"updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER,
        )
        return await self._finish_if_done(run)

    async def page_done(self, tenant: str, run_id: str, page: int) -> bool:
        return await self._db.run_pages.find_one({"_id": f"{run_id}:{page}", "tenant": tenant}) is not None

    async def try_finish(self, tenant: str, run_id: str) -> Document | None:
        """Give the run its terminal status once all its planned work is counted."""
        return await self._finish_if_done(await self.get(tenant, run_id))

    async def _finish_if_done(self, run: Document | None) -> Document | None:
        if not _looks_done(run):
            return run
        assert run is not None
        # The running counters say the run is complete: settle it on exact counts (see `count`).
        run = await self.recount(run["tenant"], run["_id"])
        if not _looks_done(run):
            return run
        assert run is not None
        return await self.finish(run["tenant"], run["_id"], status=final_status(run))

    async def finish(
        self, tenant: str, run_id: str, *, status: RunStatus, error: str | None = None, force: bool = False
    ) -> Document | None:
        query: dict[str, Any] = {"_id": run_id, "tenant": tenant}
        if not force:
            query["status"] = {"$in": ACTIVE}
        now = utcnow()
        update: dict[str, Any] = {
            "status": status.value,
            "finished_at": now,
            "updated_at": now,
            "announce_pending": True,
        }
        if error is not None:
            update["error"] = error
        doc = await self._db.runs.find_one_and_update(
            query, {"$set": update}, return_document=ReturnDocument.AFTER
        )
        if doc is None:
            return None
        RUNS_FINISHED.labels(kind=doc["kind"], status=status.value).inc()
        await self._announce(doc)
        if self._on_terminal is not None:
            await self._on_terminal(doc)
        return doc

    async def _announce(self, run: Document) -> None:
        if self._on_finish is not None and await self._on_finish(run):
            await self._db.runs.update_one(
                {"_id": run["_id"], "tenant": run["tenant"]}, {"$unset": {"announce_pending": ""}}
            )

    async def announce_overdue(self, finished_before: datetime, limit: int = 100) -> int:
        """Announce runs finished before `finished_before` whose announcement was never confirmed; returns
        how many were found. One query on a partial index holding only such runs."""
        cursor = (
            self._db.runs.find(
                {"announce_pending": True, "finished_at": {"$lt": finished_before}}, {"errors": 0}
            )
            .sort("finished_at", 1)
            .limit(limit)
        )
        runs = [run async for run in cursor]
        for run in runs:
            await self._announce(run)
        return len(runs)

    async def fail(self, tenant: str, run_id: str, error: str) -> Document | None:
        """End a run because of an error: never `succeeded`; `partially_succeeded` if some work landed."""
        run = await self.get(tenant, run_id)
        if run is None:
            return None
        done = run["created"] + run["updated"] + run["unchanged"] + run["deleted"]
        status = RunStatus.PARTIALLY_SUCCEEDED if done > 0 else RunStatus.FAILED
        return await self.finish(tenant, run_id, status=status, error=error)

    async def latest(self, tenant: str, limit: int) -> list[Document]:
        """The tenant's newest runs, counters and times only: what health is judged on, one bounded
        read on the (tenant, created_at) index."""
        projection = {
            "kind": 1,
            "status": 1,
            "created_at": 1,
            "updated_at": 1,
            "finished_at": 1,
            "error": 1,
            "ironclad_rate_limited": 1,
        }
        cursor = self._db.runs.find({"tenant": tenant}, projection).sort("created_at", -1).limit(limit)
        return [doc async for doc in cursor]

    async def stats(
        self, tenant: str, *, start: datetime, end: datetime, bucket: StatsBucket
    ) -> list[Document]:
        """Runs created in [start, end) grouped by (bucket start, kind, status), with their outcome sums,
        durations and Ironclad requests: one aggregation on the (tenant, created_at) index, whose rows
        (at most buckets x kinds x statuses) the caller only reshapes."""
        timed = {
            "$and": [
                {"$ne": [{"$ifNull": ["$finished_at", None]}, None]},
                {"$ne": [{"$ifNull": ["$started_at", None]}, None]},
            ]
        }
        millis = {"$subtract": ["$finished_at", "$started_at"]}
        group: dict[str, Any] = {
            "_id": {
                "start": {"$dateTrunc": {"date": "$created_at", "unit": bucket}},
                "kind": "$kind",
                "status": "$status",
            },
            "runs": {"$sum": 1},
            **{name: {"$sum": {"$ifNull": [f"${name}", 0]}} for name in (*STATS_RECORDS, *IRONCLAD_COUNTERS)},
            "duration_ms_sum": {"$sum": {"$cond": [timed, millis, 0]}},
            "duration_n": {"$sum": {"$cond": [timed, 1, 0]}},
            "duration_ms_max": {"$max": {"$cond": [timed, millis, None]}},
        }
        pipeline: list[dict[str, Any]] = [
            {"$match": {"tenant": tenant, "created_at": {"$gte": start, "$lt": end}}},
            {"$group": group},
        ]
        return [row async for row in await self._db.runs.aggregate(pipeline)]

    async def cancel_active(self, tenant: str, reason: str) -> int:
        """Fail every active run of the tenant (a disconnect). Marked `announce_pending` like any run
        that ends: the importer's sweep (`announce_overdue`) announces each one's sync.failed."""
        now = utcnow()
        result = await self._db.runs.update_many(
            {"tenant": tenant, "status": {"$in": ACTIVE}},
            {
                "$set": {
                    "status": RunStatus.FAILED.value,
                    "error": reason,
                    "finished_at": now,
                    "updated_at": now,
                    "announce_pending": True,
                }
            },
        )
        return result.modified_count


@dataclass(frozen=True)
class PageWindow:
    """How a listing hands out its pages: at most `pages` outstanding at once, `page_size` records each;
    `published` of its first pages are handed out when it is planned (page 0, listed to plan it)."""

    pages: int
    page_size: int
    published: int = 0


def pages_to_hand_out(run: Document | None) -> range:
    """The pages a listing may hand out now, keeping at most `window` outstanding.

    Outstanding: pages handed out but not checkpointed by an importer, plus the pages' worth of listed
    records the mapper has not counted yet. So a run's pages never flood the queues between importer
    and mapper: one tenant's backfill holds a window in each, and every other tenant's work interleaves
    with it. Runs planned without a window (before windows existed) handed out every page at once.
    """
    if run is None or run["status"] not in ACTIVE or run.get("pages_total") is None:
        return range(0)
    published = run.get("pages_published")
    if published is None or run["kind"] not in (RunKind.IMPORT.value, RunKind.RECONCILE.value):
        return range(0)
    uncounted = max(0, int(run.get("listed") or 0) - int(run["fetched"]))
    outstanding = (published - run["pages_done"]) + -(-uncounted // run["page_size"])
    up_to = min(run["pages_total"], published + max(0, run["window"] - outstanding))
    return range(published, up_to)


def awaiting_close(run: Document | None) -> bool:
    """Every page of a listing is done and counted, and its closing pass has not completed it yet.

    The closing pass compares what Ironclad holds with what MongoDB holds, so it waits until the
    pages' own batches are stored; otherwise it would take them for changes.
    """
    if (
        run is None
        or run["status"] not in ACTIVE
        or run["pages_total"] is None
        or run.get("listing_complete")
    ):
        return False
    if run["kind"] not in (RunKind.IMPORT.value, RunKind.RECONCILE.value):
        return False
    return bool(run["pages_done"] >= run["pages_total"] and run["fetched"] >= (run["expected"] or 0))


def _looks_done(run: Document | None) -> bool:
    if run is None or run["status"] not in ACTIVE or run["pages_total"] is None:
        return False
    if run["pages_done"] < run["pages_total"] or run["fetched"] < (run["expected"] or 0):
        return False
    return bool(run.get("listing_complete"))


def final_status(run: Document) -> RunStatus:
    if run.get("error"):
        return RunStatus.PARTIALLY_SUCCEEDED if run["fetched"] > run["failed"] else RunStatus.FAILED
    if run["failed"] == 0:
        return RunStatus.SUCCEEDED
    return RunStatus.PARTIALLY_SUCCEEDED if run["fetched"] > run["failed"] else RunStatus.FAILED


def public_run(run: Document) -> dict[str, Any]:
    """A run as the admin API shows it."""
    hidden = (
        "_id",
        "listing_complete",
        "added",
        "closing_ids",
        "window",
        "page_size",
        "listed",
        "announce_pending",
    )
    out = {k: v for k, v in run.items() if k not in hidden}
    out["run_id"] = run["_id"]
    out["progress"] = {
        "fetched": run["fetched"],
        "total": run["expected"] if run["expected"] is not None else run["total"],
    }
    out["repaired"] = (
        run["created"] + run["updated"] + run["deleted"] if run["kind"] == RunKind.RECONCILE else None
    )
    for key in ("created_at", "updated_at", "started_at", "finished_at", "recounted_at"):
        out[key] = iso(out.get(key))
    return out
