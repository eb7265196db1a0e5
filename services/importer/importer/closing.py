"""A listing's closing pass, and a reconciliation's confirmed deletions.

Runs once every page of an import or a reconciliation is done (a ListingDone message):

1. Records updated since the listing began (less `LISTING_SKEW`) are read again in ascending windows
   (changes.py). An edit during the listing moved its record across pages already read; this finds it
   at its newest version. Creations during the listing are found the same way.
2. A reconciliation then looks at every live contract its listing did not contain. Each is a deletion
   candidate only: a record can also have slipped between two pages when another was deleted or moved.
   So each candidate is fetched by id, paced like every other request. Only a 404 marks it deleted;
   a record that answers is kept, and brought up to date if it changed.
3. The records found in 1 and 2 are stored on the run as its closing plan (once, so a redelivery counts
   the same slots), published as batches with slots `c:<record id>`, and the listing is complete.

A limited import (Max contracts) brings in no new records here, only newer versions of those it has.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from contracts_common.ironclad import IroncladClient
from contracts_common.ironclad.client import MAX_PAGE_SIZE
from contracts_common.ironclad_access import IroncladAccess, Lane, RequestTally, tallied
from contracts_common.messages import RunKind
from contracts_common.metrics import RECORDS
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.database import Document
from contracts_common.storage.runs import ACTIVE, Runs
from importer.changes import changed_since
from importer.publishing import RecordPublisher, get_records, is_current

log = structlog.get_logger(__name__)

# Ironclad's clock and ours disagree a little; the closing pass starts this much before the run did.
LISTING_SKEW = timedelta(seconds=30)


class ClosingPass:
    def __init__(
        self,
        *,
        access: IroncladAccess,
        runs: Runs,
        contracts: Contracts,
        publisher: RecordPublisher,
        concurrency: int,
    ) -> None:
        self._access = access
        self._runs = runs
        self._contracts = contracts
        self._publisher = publisher
        self._concurrency = concurrency

    async def run(self, tenant: str, run_id: str, kind: RunKind) -> None:
        with tallied() as tally:
            await self._close(tenant, run_id, kind, tally)

    async def _close(self, tenant: str, run_id: str, kind: RunKind, tally: RequestTally) -> None:
        run = await self._runs.get(tenant, run_id)
        if run is None or run["status"] not in ACTIVE or run.get("listing_complete"):
            return
        client, _ = await self._access.client(tenant, Lane.BULK)
        limited = kind == RunKind.IMPORT and run.get("max_contracts") is not None
        gone: list[str] = []
        if run.get("closing_ids") is None:
            found = await self._changed_during_listing(client, tenant, run, limited=limited)
            if kind == RunKind.RECONCILE:
                gone = await self._confirm_deletions(client, tenant, run, found)
            planned = await self._runs.plan_closing(tenant, run_id, list(found))
        else:
            found, planned = {}, list(run["closing_ids"])
            if kind == RunKind.RECONCILE:
                gone = await self._confirm_deletions(client, tenant, run, {})
        # A redelivery (or a plan another delivery stored first) fetches what it has not got in hand.
        missing = [rid for rid in planned if rid not in found]
        for record_id, record in zip(
            missing, await get_records(client, missing, self._concurrency), strict=True
        ):
            if record is not None:
                found[record_id] = record
        records = [found[rid] for rid in planned if rid in found]
        vanished = len(planned) - len(records)
        if vanished:
            # Planned, then deleted in Ironclad before it could be fetched again: nothing to count.
            await self._runs.add_expected(tenant, run_id, -vanished)
        known = await self._contracts.known_versions(tenant, [r["id"] for r in records])
        for start in range(0, len(records), MAX_PAGE_SIZE):
            chunk = records[start : start + MAX_PAGE_SIZE]
            await self._publisher.publish(
                client,
                tenant,
                run_id,
                [(f"c:{r['id']}", r) for r in chunk],
                known,
                lane=Lane.BULK,
            )
        deleted = await self._contracts.mark_deleted(tenant, gone, run_id) if gone else 0
        RECORDS.labels(outcome="deleted").inc(deleted)
        log.info("listing_closed", run_id=run_id, closing_records=len(records), deleted=deleted)
        await self._runs.mark_listing_complete(tenant, run_id, deleted=deleted, ironclad=tally.counters())
        await self._runs.try_finish(tenant, run_id)

    async def _changed_during_listing(
        self, client: IroncladClient, tenant: str, run: Document, *, limited: bool
    ) -> dict[str, dict[str, Any]]:
        """Records updated since the listing began that MongoDB does not hold at that version.

        Window by window: only the records that differ from MongoDB are kept, so memory follows the
        changes made during the listing, not the number of records read again.
        """
        changed: dict[str, dict[str, Any]] = {}
        since = run["started_at"] - LISTING_SKEW
        async for records in changed_since(client, since, page_size=MAX_PAGE_SIZE):
            ids = [r["id"] for r in records]
            known = await self._contracts.known_versions(tenant, ids)
            if run["kind"] == RunKind.RECONCILE:
                await self._contracts.mark_seen(tenant, ids, run["_id"])
            for record in records:
                rid = record["id"]
                if not is_current(known.get(rid), record) and not (limited and rid not in known):
                    changed[rid] = record  # ascending: a later window's version is newer
                else:
                    changed.pop(rid, None)
            # Under heavy editing this reads window after window: the run is moving, not stalled.
            await self._runs.progressed(tenant, run["_id"])
        return changed

    async def _confirm_deletions(
        self, client: IroncladClient, tenant: str, run: Document, found: dict[str, dict[str, Any]]
    ) -> list[str]:
        """Candidates the listing missed, asked for one by one; returns those Ironclad says are gone.
        Those that answer are marked seen, and added to `found` when MongoDB's copy is older."""
        candidates = [
            rid
            for rid in await self._contracts.unseen(tenant, run["_id"], run["started_at"])
            if rid not in found
        ]
        if not candidates:
            return []
        answers = await get_records(client, candidates, self._concurrency)
        await self._runs.progressed(tenant, run["_id"])
        alive = {rid: rec for rid, rec in zip(candidates, answers, strict=True) if rec is not None}
        gone = [rid for rid, rec in zip(candidates, answers, strict=True) if rec is None]
        if alive:
            await self._contracts.mark_seen(tenant, list(alive), run["_id"])
            known = await self._contracts.known_versions(tenant, list(alive))
            found.update({rid: rec for rid, rec in alive.items() if not is_current(known.get(rid), rec)})
            log.info("deletion_candidates_alive", count=len(alive))
        return gone
