"""Watches running runs: repairs counters a crash left behind, and ends runs that stopped for good.

A run counts each slot in two writes (its `run_items` row, then the counter); a worker killed between
them leaves the counter one short and the run waiting. When a run has not moved for
`run_recount_after_seconds`, its counters are rebuilt exactly from its rows, once per quiet spell, and it
is given its terminal status if its work is done. A run that still has not moved after
`run_stall_seconds` (a run whose StartRun never got planned included) is failed with the reason, so
nobody waits on it forever. A quiet listing also gets again the pages it handed out that were never
done (a process that died between claiming pages and publishing them; duplicates count once).
Every replica may do this; recounting is idempotent.
It also announces finished runs whose sync.* notification was never confirmed (Runs.announce_overdue),
and changes of health whose health.changed was not (HealthMonitor.announce_overdue), `ANNOUNCE_GRACE`
after they happened: the process that saw them normally announces at once.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from contracts_common.commands import after_progress, publish_pages
from contracts_common.health_status import HealthMonitor
from contracts_common.messaging import Broker
from contracts_common.metrics import RUN_SUPERVISOR_TICKS
from contracts_common.runtime import every
from contracts_common.settings import ImporterSettings
from contracts_common.storage.database import Document
from contracts_common.storage.runs import Runs
from contracts_common.timeutil import utcnow

log = structlog.get_logger(__name__)

ANNOUNCE_GRACE = timedelta(seconds=30)


class RunSupervisor:
    def __init__(
        self, runs: Runs, broker: Broker, settings: ImporterSettings, monitor: HealthMonitor | None = None
    ) -> None:
        self._runs = runs
        self._monitor = monitor
        self._broker = broker
        self._settings = settings

    async def run_forever(self) -> None:
        await every(self._settings.run_supervisor_tick_seconds, self.tick, "run_supervisor")

    async def tick(self) -> None:
        await self._look()
        late = await self._runs.announce_overdue(utcnow() - ANNOUNCE_GRACE)
        if late:
            log.warning("run_announcements_overdue", runs=late)
        if self._monitor is not None and (
            late := await self._monitor.announce_overdue(utcnow() - ANNOUNCE_GRACE)
        ):
            log.warning("health_announcements_overdue", changes=late)
        RUN_SUPERVISOR_TICKS.inc()

    async def _look(self) -> None:
        now = utcnow()
        # Progress is what moves `updated_at`: a slot counted, a page done. A recount is not.
        for run in await self._runs.quiet(now - timedelta(seconds=self._settings.run_recount_after_seconds)):
            tenant, run_id = run["tenant"], run["_id"]
            last_progress = run["updated_at"]
            idle = (now - last_progress).total_seconds()
            recounted = run.get("recounted_at")
            if run.get("pages_total") is not None and (recounted is None or recounted < last_progress):
                # Once per quiet spell: a run that has not moved since its last recount is not rescanned.
                await self._runs.recount(tenant, run_id)
                finished = await self._runs.try_finish(tenant, run_id)
                # A lost increment may have been all that kept a listing from its next pages or its
                # closing pass; pages claimed by a process that died before handing them out go again.
                await self._hand_out_lost_pages(finished)
                await after_progress(self._broker, self._runs, finished)
                if finished is not None and finished["status"] != "running":
                    log.info(
                        "run_settled_after_recount", tenant=tenant, run_id=run_id, status=finished["status"]
                    )
                    continue
            if idle >= self._settings.run_stall_seconds:
                reason = (
                    f"no progress for {int(idle)} s; some of its messages may be in a dead-letter queue "
                    "(python -m contracts_common.ops queues)"
                )
                await self._runs.fail(tenant, run_id, reason)
                log.warning("run_stalled_failed", tenant=tenant, run_id=run_id, idle_seconds=int(idle))

    async def _hand_out_lost_pages(self, run: Document | None) -> None:
        if run is None or run["status"] != "running" or not run.get("pages_published"):
            return
        lost = await self._runs.pages_not_done(run["tenant"], run["_id"], run["pages_published"])
        if lost:
            log.info("run_pages_handed_out_again", tenant=run["tenant"], run_id=run["_id"], pages=len(lost))
            await publish_pages(self._broker, run, lost)
