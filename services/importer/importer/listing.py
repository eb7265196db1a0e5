"""Imports and reconciliations: plan the pages, then work through them page by page.

A StartRun lists page 0 to learn the total, stores the plan and publishes one PageTask per page.
Page tasks are shared by all importer replicas; each page is checkpointed once it is handed off, so an
importer killed midway resumes at the pages not yet done, never at page 0.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import structlog

from contracts_common.ironclad import IroncladClient
from contracts_common.ironclad_access import IroncladAccess
from contracts_common.messages import PageTask, RunKind, StartRun
from contracts_common.messaging import Broker, Delivery
from contracts_common.metrics import RECORDS
from contracts_common.storage.contracts import Contracts, parse_timestamp
from contracts_common.storage.database import Document
from contracts_common.storage.runs import Outcome, Runs
from importer.documents import DocumentStore
from importer.failures import FAILURES, RunFailurePolicy
from importer.handoff import hand_off_record

log = structlog.get_logger(__name__)


class ListingHandlers:
    def __init__(
        self,
        *,
        access: IroncladAccess,
        broker: Broker,
        runs: Runs,
        contracts: Contracts,
        documents: DocumentStore,
        failures: RunFailurePolicy,
        page_size: int,
        concurrency: int,
    ) -> None:
        self._access = access
        self._broker = broker
        self._runs = runs
        self._contracts = contracts
        self._documents = documents
        self._failures = failures
        self._page_size = page_size
        self._concurrency = concurrency

    async def start_run(self, message: StartRun, delivery: Delivery) -> None:
        run = await self._runs.start(message.tenant, message.run_id)
        if run is None:
            log.info("run_not_active_skipped")
            return
        try:
            client, _ = await self._access.client(message.tenant)
            if run["pages_total"] is None:
                first = await client.list_records(page=0, page_size=self._page_size)
                total = (
                    first.count if message.max_contracts is None else min(first.count, message.max_contracts)
                )
                pages_total = math.ceil(total / self._page_size)
                await self._runs.plan(
                    message.tenant,
                    message.run_id,
                    total=total,
                    pages_total=pages_total,
                    listing_complete=message.kind != RunKind.RECONCILE,
                )
                log.info("run_planned", total=total, pages=pages_total, ironclad_count=first.count)
            run = await self._runs.get(message.tenant, message.run_id)
            assert run is not None
            for page in range(run["pages_total"]):
                take = min(self._page_size, run["total"] - page * self._page_size)
                await self._broker.publish_with_retry(
                    PageTask(
                        tenant=message.tenant,
                        run_id=message.run_id,
                        kind=message.kind,
                        page=page,
                        page_size=self._page_size,
                        take=take,
                    )
                )
            if run["pages_total"] == 0:
                await self._finish_listing(message.tenant, message.run_id, message.kind)
        except FAILURES as exc:
            await self._failures.handle(exc, tenant=message.tenant, run_id=message.run_id, delivery=delivery)

    async def process_page(self, task: PageTask, delivery: Delivery) -> None:
        if not await self._runs.is_active(task.tenant, task.run_id):
            return
        if await self._runs.page_done(task.tenant, task.run_id, task.page):
            return
        try:
            client, _ = await self._access.client(task.tenant)
            listed = await client.list_records(page=task.page, page_size=task.page_size)
            records = listed.records[: task.take]
            RECORDS.labels(outcome="fetched").inc(len(records))
            stored = await self._contracts.last_updated_of(task.tenant, [r["id"] for r in records])
            if task.kind == RunKind.RECONCILE:
                await self._contracts.mark_seen(task.tenant, [r["id"] for r in records], task.run_id)
            unchanged: list[tuple[str, Outcome, str | None]] = []
            to_fetch: list[tuple[str, dict[str, Any]]] = []
            for index, record in enumerate(records):
                slot = f"p{task.page}:{index}"
                known = stored.get(record["id"])
                if task.kind == RunKind.RECONCILE and _current(known, record):
                    unchanged.append((slot, Outcome.UNCHANGED, record["id"]))
                else:
                    to_fetch.append((slot, record))
            await self._hand_off(task.tenant, task.run_id, client, to_fetch, stored)
            if unchanged:
                await self._runs.count_slots(task.tenant, task.run_id, unchanged)
            first_time = await self._runs.complete_page(
                task.tenant, task.run_id, task.page, listed=len(records), planned=task.take
            )
            await self._access.connections.touch_success(task.tenant)
            if first_time and task.kind == RunKind.RECONCILE:
                await self._maybe_finish_reconcile(task.tenant, task.run_id)
        except FAILURES as exc:
            await self._failures.handle(
                exc,
                tenant=task.tenant,
                run_id=task.run_id,
                delivery=delivery,
                generation=None,
            )

    async def _hand_off(
        self,
        tenant: str,
        run_id: str,
        client: IroncladClient,
        items: list[tuple[str, dict[str, Any]]],
        stored: dict[str, Document],
    ) -> None:
        limit = asyncio.Semaphore(self._concurrency)

        async def one(slot: str, record: dict[str, Any]) -> None:
            async with limit:
                await hand_off_record(
                    documents=self._documents,
                    runs=self._runs,
                    broker=self._broker,
                    client=client,
                    tenant=tenant,
                    run_id=run_id,
                    record=record,
                    stored=stored.get(record["id"]),
                    slot=slot,
                )

        await asyncio.gather(*(one(slot, record) for slot, record in items))

    async def _maybe_finish_reconcile(self, tenant: str, run_id: str) -> None:
        run = await self._runs.get(tenant, run_id)
        if run is None or run["pages_done"] < (run["pages_total"] or 0) or run.get("error"):
            return
        await self._finish_listing(tenant, run_id, RunKind.RECONCILE)

    async def _finish_listing(self, tenant: str, run_id: str, kind: RunKind) -> None:
        """The listing is complete: only now may a reconciliation mark vanished records deleted."""
        if kind == RunKind.RECONCILE:
            run = await self._runs.get(tenant, run_id)
            if run is None or run["status"] != "running":
                return
            deleted = await self._contracts.mark_unseen_deleted(tenant, run_id, run["started_at"])
            RECORDS.labels(outcome="deleted").inc(deleted)
            await self._runs.mark_listing_complete(tenant, run_id, deleted=deleted)
        await self._runs.try_finish(tenant, run_id)


def _current(known: Document | None, record: dict[str, Any]) -> bool:
    if known is None or known.get("deleted"):
        return False
    stored = known.get("source_last_updated")
    return stored is not None and stored >= parse_timestamp(record["lastUpdated"])
