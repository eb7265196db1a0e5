"""Imports and reconciliations: plan the pages, work through them page by page, then close the listing.

A StartRun lists page 0 to learn the total, stores the plan, hands out the first window of pages and
works page 0 itself. Page tasks are shared by all importer replicas; each page is checkpointed once its
records are published to the mapper, so an importer killed midway resumes at the pages not yet done.
A run keeps at most `run_pages_in_flight` pages outstanding (handed out and not yet stored by the
mapper): the next ones are handed out as those are done (commands.advance_listing), so one tenant's
backfill never fills the shared queues and other tenants' runs interleave with it.

Offset pages do not hold still while people work in Ironclad: a record edited mid-listing moves, and a
page already read never sees it. So when the last page is done a ListingDone runs the closing pass
(closing.py): records updated since the listing began are read again, in ascending windows, and a
reconciliation confirms each deletion with Ironclad before marking anything deleted. It is asked for
once the pages are done and their batches counted (commands.close_if_counted), by whichever of the
importer and the mapper moves the run last.
"""

from __future__ import annotations

import math
from typing import Any

import structlog

from contracts_common import commands
from contracts_common.commands import advance_listing, after_progress, close_if_counted
from contracts_common.ironclad import IroncladClient
from contracts_common.ironclad_access import IroncladAccess, Lane, RequestTally, tallied
from contracts_common.messages import ListingDone, PageTask, RunKind, StartRun, UnchangedItem
from contracts_common.messaging import Broker, Delivery
from contracts_common.metrics import RECORDS
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.runs import PageWindow, Runs
from importer.closing import ClosingPass
from importer.failures import FAILURES, RunFailurePolicy
from importer.publishing import RecordPublisher, is_current

log = structlog.get_logger(__name__)


class ListingHandlers:
    def __init__(
        self,
        *,
        access: IroncladAccess,
        broker: Broker,
        runs: Runs,
        contracts: Contracts,
        publisher: RecordPublisher,
        closing: ClosingPass,
        failures: RunFailurePolicy,
        page_size: int,
        window: int,
    ) -> None:
        self._access = access
        self._broker = broker
        self._runs = runs
        self._contracts = contracts
        self._publisher = publisher
        self._closing = closing
        self._failures = failures
        self._page_size = page_size
        self._window = window

    async def start_run(self, message: StartRun, delivery: Delivery) -> None:
        run = await self._runs.start(message.tenant, message.run_id)
        if run is None:
            log.info("run_not_active_skipped")
            return
        try:
            with tallied() as tally:
                await self._plan_and_work_first_page(message, run, tally)
        except FAILURES as exc:
            await self._failures.handle(exc, tenant=message.tenant, run_id=message.run_id, delivery=delivery)

    async def _plan_and_work_first_page(
        self, message: StartRun, run: dict[str, Any], tally: RequestTally
    ) -> None:
        client, _ = await self._access.client(message.tenant, Lane.BULK)
        if run["pages_total"] is not None:
            # Redelivered after it was planned: hand out again whatever was handed out and not done
            # (a page done twice is checkpointed and counted once), then go on as usual.
            await self._resume(run)
            return
        first = await client.list_records(page=0, page_size=self._page_size)
        total = first.count if message.max_contracts is None else min(first.count, message.max_contracts)
        pages_total = math.ceil(total / self._page_size)
        # Complete only once the closing pass has run (see ListingDone). Page 0 was just listed to
        # plan the run: it is handed out to this delivery, which works it below.
        planned = await self._runs.plan(
            message.tenant,
            message.run_id,
            total=total,
            pages_total=pages_total,
            listing_complete=False,
            window=PageWindow(pages=self._window, page_size=self._page_size, published=1),
        )
        log.info("run_planned", total=total, pages=pages_total, ironclad_count=first.count)
        if planned is None:
            return  # erased meanwhile (the tenant's data removed)
        if pages_total == 0:
            await close_if_counted(self._broker, planned)
            return
        # The next pages go out for the other replicas first, then page 0 is worked here.
        await advance_listing(self._broker, self._runs, planned)
        await self._work_page(commands.page_task(planned, 0), client, first.records, tally)

    async def _resume(self, run: dict[str, Any]) -> None:
        tenant, run_id = run["tenant"], run["_id"]
        published = run.get("pages_published")
        if published is None or run.get("page_size") is None:
            published = run["pages_total"]  # planned before windows: every page was handed out
            run = {**run, "page_size": self._page_size}
        await commands.publish_pages(
            self._broker, run, await self._runs.pages_not_done(tenant, run_id, published)
        )
        await after_progress(self._broker, self._runs, run)

    async def process_page(self, task: PageTask, delivery: Delivery) -> None:
        run = await self._runs.get(task.tenant, task.run_id)
        if run is None or run["status"] not in ("queued", "running"):
            return
        if await self._runs.page_done(task.tenant, task.run_id, task.page):
            # Redelivered after its checkpoint: the worker may have died before it moved the run on.
            await after_progress(self._broker, self._runs, run)
            return
        try:
            with tallied() as tally:
                client, _ = await self._access.client(task.tenant, Lane.BULK)
                listed = await client.list_records(page=task.page, page_size=task.page_size)
                await self._work_page(task, client, listed.records, tally)
        except FAILURES as exc:
            await self._failures.handle(
                exc,
                tenant=task.tenant,
                run_id=task.run_id,
                delivery=delivery,
                generation=None,
            )

    async def _work_page(
        self, task: PageTask, client: IroncladClient, listed: list[dict[str, Any]], tally: RequestTally
    ) -> None:
        records = listed[: task.take]
        RECORDS.labels(outcome="fetched").inc(len(records))
        ids = [r["id"] for r in records]
        known = await self._contracts.known_versions(task.tenant, ids)
        if task.kind == RunKind.RECONCILE:
            await self._contracts.mark_seen(task.tenant, ids, task.run_id)
        unchanged: list[UnchangedItem] = []
        to_fetch: list[tuple[str, dict[str, Any]]] = []
        for index, record in enumerate(records):
            slot = f"p{task.page}:{index}"
            if task.kind == RunKind.RECONCILE and is_current(known.get(record["id"]), record):
                unchanged.append(UnchangedItem(slot=slot, record_id=record["id"]))
            else:
                to_fetch.append((slot, record))
        # The whole page is one batch for the mapper, unchanged slots included: one write, one count.
        await self._publisher.publish(
            client, task.tenant, task.run_id, to_fetch, known, lane=Lane.BULK, unchanged=unchanged
        )
        run = await self._runs.complete_page(
            task.tenant,
            task.run_id,
            task.page,
            listed=len(records),
            planned=task.take,
            ironclad=tally.counters(),
        )
        await self._access.connections.touch_success(task.tenant)
        # The mapper may have counted the page's batch already; then the next pages, or the close, are
        # ours to ask for.
        await after_progress(self._broker, self._runs, run)

    async def close_listing(self, message: ListingDone, delivery: Delivery) -> None:
        try:
            await self._closing.run(message.tenant, message.run_id, message.kind)
        except FAILURES as exc:
            await self._failures.handle(exc, tenant=message.tenant, run_id=message.run_id, delivery=delivery)
