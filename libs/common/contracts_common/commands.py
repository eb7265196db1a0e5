"""Starting runs, shared by the gateway, the importer's scheduler and the operator CLI."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from contracts_common.messages import ListingDone, PageTask, RemapTask, RunKind, StartRun
from contracts_common.messaging import Broker
from contracts_common.storage.database import Database, Document
from contracts_common.storage.leases import Leases
from contracts_common.storage.runs import ACTIVE, Runs, awaiting_close, pages_to_hand_out

log = structlog.get_logger(__name__)

RECONCILE_LEASE = "reconcile"
# A reconciliation that has not ended after this long no longer blocks the next one.
RECONCILE_LEASE_SECONDS = 6 * 3600.0


async def start_import(db: Database, broker: Broker, tenant: str, max_contracts: int | None) -> Document:
    runs = Runs(db)
    run = await runs.create(tenant, RunKind.IMPORT, max_contracts=max_contracts)
    await _publish_or_fail(
        runs,
        broker,
        run,
        StartRun(tenant=tenant, run_id=run["_id"], kind=RunKind.IMPORT, max_contracts=max_contracts),
    )
    return run


async def start_reconcile(db: Database, broker: Broker, tenant: str) -> tuple[Document, bool]:
    """Start a reconciliation unless one is active for the tenant; returns (run, started).

    One per tenant across gateway replicas and schedulers: the tenant's `reconcile` lease names the run
    holding it, and changes hands only by compare-and-set on the lease that was read (see Leases).
    """
    runs, leases = Runs(db), Leases(db)
    lease = await leases.current(tenant, RECONCILE_LEASE)
    if lease is not None and lease.live():
        holder = await runs.get(tenant, lease.owner)
        if holder is not None and holder["status"] in ACTIVE:
            return holder, False
    run = await runs.create(tenant, RunKind.RECONCILE)
    if not await leases.acquire(
        tenant, RECONCILE_LEASE, RECONCILE_LEASE_SECONDS, owner=run["_id"], replacing=lease
    ):
        await db.runs.delete_one({"_id": run["_id"]})
        current = await leases.current(tenant, RECONCILE_LEASE)
        holder = await runs.get(tenant, current.owner) if current else None
        if holder is None:
            raise RuntimeError("reconciliation lease lost to a run that does not exist")
        return holder, False
    await _publish_or_fail(
        runs, broker, run, StartRun(tenant=tenant, run_id=run["_id"], kind=RunKind.RECONCILE)
    )
    return run, True


async def start_remap(db: Database, broker: Broker, tenant: str, mapping_version: int) -> Document:
    runs = Runs(db)
    run = await runs.create(tenant, RunKind.REMAP)
    await _publish_or_fail(
        runs,
        broker,
        run,
        RemapTask(tenant=tenant, run_id=run["_id"], mapping_version=mapping_version),
    )
    return run


def page_task(run: Document, page: int) -> PageTask:
    size = int(run["page_size"])
    return PageTask(
        tenant=run["tenant"],
        run_id=run["_id"],
        kind=run["kind"],
        page=page,
        page_size=size,
        take=min(size, run["total"] - page * size),
    )


async def publish_pages(broker: Broker, run: Document, pages: Iterable[int]) -> None:
    for page in pages:
        await broker.publish_with_retry(page_task(run, page))


async def advance_listing(broker: Broker, runs: Runs, run: Document | None) -> None:
    """Hand out a listing's next pages as its outstanding ones are done (see runs.pages_to_hand_out).

    Called by whoever moves the run (the importer that checkpointed a page, the mapper that counted a
    batch, the run supervisor); the pages are claimed by compare-and-set first, so each is handed out
    once. A publish that fails gives back the pages not handed out; should a process die between claim
    and publish, the run supervisor hands out again the claimed pages that were never done.
    """
    pages = pages_to_hand_out(run)
    if not pages:
        return
    assert run is not None
    tenant, run_id = run["tenant"], run["_id"]
    if not await runs.claim_pages(tenant, run_id, published=pages.start, up_to=pages.stop):
        return  # another caller moved the window first and hands these out
    published = pages.start
    try:
        for page in pages:
            await broker.publish_with_retry(page_task(run, page))
            published = page + 1
    except Exception:
        await runs.claim_pages(tenant, run_id, published=pages.stop, up_to=published)
        raise


async def after_progress(broker: Broker, runs: Runs, run: Document | None) -> None:
    """A listing's run moved: hand out its next pages, or, when all are done and counted, ask for its
    closing pass."""
    await advance_listing(broker, runs, run)
    await close_if_counted(broker, run)


async def close_if_counted(broker: Broker, run: Document | None) -> bool:
    """Ask for a listing's closing pass once its pages are all done and counted; True if asked.

    Called by whoever may be the last to move the run (the page's importer, the batch's mapper, a
    redelivered page); a second request is harmless, the closing pass is idempotent.
    """
    if not awaiting_close(run):
        return False
    assert run is not None
    await broker.publish_with_retry(ListingDone(tenant=run["tenant"], run_id=run["_id"], kind=run["kind"]))
    return True


async def _publish_or_fail(runs: Runs, broker: Broker, run: Document, message: StartRun | RemapTask) -> None:
    try:
        await broker.publish_with_retry(message, attempts=3)
    except Exception:
        # Never leave a queued run that no message will ever start.
        await runs.fail(run["tenant"], run["_id"], "could not hand the run to the broker; try again")
        raise
