"""Periodic work per connected tenant: the incremental pass, the full reconciliation, the webhook check.

The intervals:
- the incremental pass (delta.py), every `delta_sync_interval_seconds`: changes Ironclad sends no
  webhook for arrive within about that long;
- the full reconciliation, the only way to see deletions, every `reconcile_interval_seconds`, or the
  shorter `reconcile_interval_degraded_seconds` while Ironclad has disabled or deleted our webhook;
- for tenants with Automatic Sync on, the webhook health check (webhook_health.py), every
  `webhook_health_interval_seconds`.

It scales with the tenants that are due, not with all of them. Every importer replica ticks every
`scheduler_tick_seconds`: one query on the `next_due_at` index finds the tenants with work due (as many
as its pool has room for), each is planned (`plan_turn`: which tasks are due now, when each is next due)
and the plan is stored by compare-and-set on the `next_due_at` that was read, so exactly one replica
takes a turn. The tenant's due tasks then run in the replica's bounded pool (`TurnPool`), each tenant's
turn on its own: one tenant whose Ironclad hangs holds one place of the pool, and every other tenant's
turn runs on time. A turn's next one is due a whole interval after it was taken. A tenant's first turn
of a task comes one interval after it connected, spread over a tenth of an interval by a hash of the
tenant, so tenants connected together do not all fire in the same second.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from contracts_common.commands import start_reconcile
from contracts_common.messaging import Broker
from contracts_common.metrics import SCHEDULED_TURNS
from contracts_common.runtime import every
from contracts_common.settings import ImporterSettings
from contracts_common.storage.connections import SCHEDULED_TASKS, Connections, Schedule, TaskSchedule
from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import utcnow
from importer.delta import DeltaSync
from importer.webhook_health import WebhookHealth

log = structlog.get_logger(__name__)

RECONCILE = "reconcile"
DELTA = "delta"
WEBHOOK_HEALTH = "webhook_health"
# A tenant's first turns fall between one and 1.1 intervals after it connected.
FIRST_TURN_SPREAD = 0.1


def reconcile_interval(connection: Document, settings: ImporterSettings) -> float:
    sync = connection.get("automatic_sync") or {}
    degraded = sync.get("enabled") and sync.get("webhook_state") not in (None, "enabled")
    return settings.reconcile_interval_degraded_seconds if degraded else settings.reconcile_interval_seconds


def intervals(connection: Document, settings: ImporterSettings) -> dict[str, float | None]:
    """Each task's interval for this tenant now; None: the task does not apply (no Automatic Sync)."""
    sync_on = bool((connection.get("automatic_sync") or {}).get("enabled"))
    return {
        RECONCILE: reconcile_interval(connection, settings),
        DELTA: settings.delta_sync_interval_seconds,
        WEBHOOK_HEALTH: settings.webhook_health_interval_seconds if sync_on else None,
    }


def first_turn_fraction(tenant: str, task: str) -> float:
    """1 to 1 + FIRST_TURN_SPREAD, the same for a tenant and task in every replica."""
    digest = hashlib.sha256(f"{tenant}/{task}".encode()).digest()
    return 1.0 + FIRST_TURN_SPREAD * int.from_bytes(digest[:4], "big") / 2**32


@dataclass(frozen=True)
class TurnPlan:
    """What one tick decided for one tenant: the tasks it takes now and every task's new entry."""

    tenant: str
    seen: datetime
    due_now: list[str]
    entries: dict[str, TaskSchedule]
    next_due_at: datetime | None


def plan_turn(
    connection: Document, interval_of: Mapping[str, float | None], now: datetime, owner: str
) -> TurnPlan:
    """Which of the tenant's tasks are due at `now`, and when each is next due.

    A task's due time is one interval after its last turn (so a shorter interval, a webhook going down,
    applies at once), or the first due time already planned, or, for a task never planned, one interval
    (spread) after the tenant connected.
    """
    tenant = connection["tenant"]
    schedule = Schedule.of(connection)
    anchor: datetime = connection.get("connected_at") or now
    due_now: list[str] = []
    entries: dict[str, TaskSchedule] = {}
    for task in SCHEDULED_TASKS:
        entry = schedule.task(task)
        interval = interval_of.get(task)
        if interval is None:
            entries[task] = entry.model_copy(update={"due_at": None})
            continue
        if entry.last_at is not None:
            due = entry.last_at + timedelta(seconds=interval)
        elif entry.due_at is not None:
            due = entry.due_at
        else:
            due = anchor + timedelta(seconds=interval * first_turn_fraction(tenant, task))
        if due <= now:
            due_now.append(task)
            entries[task] = entry.model_copy(
                update={"last_at": now, "due_at": now + timedelta(seconds=interval), "by": owner}
            )
        else:
            entries[task] = entry.model_copy(update={"due_at": due})
    upcoming = [e.due_at for e in entries.values() if e.due_at is not None]
    return TurnPlan(
        tenant=tenant,
        seen=connection["next_due_at"],
        due_now=due_now,
        entries=entries,
        next_due_at=min(upcoming) if upcoming else None,
    )


@dataclass
class TurnPool:
    """At most `size` tenants' turns at once in this replica, and one turn per tenant at a time."""

    size: int
    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    @property
    def free(self) -> int:
        return self.size - len(self.running)

    def busy(self, tenant: str) -> bool:
        return tenant in self.running

    def start(self, tenant: str, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work, name=f"turn:{tenant}")
        self.running[tenant] = task
        task.add_done_callback(lambda _: self.running.pop(tenant, None))

    async def drain(self) -> None:
        if self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)

    def cancel(self) -> None:
        for task in self.running.values():
            task.cancel()


class Scheduler:
    def __init__(
        self,
        *,
        db: Database,
        broker: Broker,
        connections: Connections,
        delta: DeltaSync,
        health: WebhookHealth,
        settings: ImporterSettings,
        owner: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._broker = broker
        self._connections = connections
        self._delta = delta
        self._health = health
        self._settings = settings
        self._owner = owner
        self._clock = clock
        self.pool = TurnPool(settings.scheduler_concurrency)
        self._work: dict[str, Callable[[Document], Awaitable[object]]] = {
            RECONCILE: self._reconcile,
            DELTA: self._delta.run,
            WEBHOOK_HEALTH: self._health.check,
        }

    async def run_forever(self) -> None:
        await self._connections.schedule_unplanned(self._clock())
        try:
            await every(self._settings.scheduler_tick_seconds, self.tick, "scheduler")
        finally:
            self.pool.cancel()

    async def tick(self) -> int:
        """Take the due turns this replica has room for; returns how many tenants' turns it started."""
        if self.pool.free <= 0:
            return 0
        now = self._clock()
        started = 0
        # Tenants whose last turn still runs here stay due and are passed over: ask for that many more.
        for connection in await self._connections.due(now, self.pool.free + len(self.pool.running)):
            if self.pool.free <= 0:
                break
            tenant = connection["tenant"]
            if self.pool.busy(tenant):
                continue
            plan = plan_turn(connection, intervals(connection, self._settings), now, self._owner)
            if not await self._connections.claim_turn(
                tenant, seen=plan.seen, tasks=plan.entries, next_due_at=plan.next_due_at
            ):
                continue  # another replica took it
            if plan.due_now:
                self.pool.start(tenant, self._turn(connection, plan.due_now))
                started += 1
        return started

    async def _turn(self, connection: Document, tasks: list[str]) -> None:
        with structlog.contextvars.bound_contextvars(tenant=connection["tenant"]):
            for task in tasks:
                SCHEDULED_TURNS.labels(task=task).inc()
                try:
                    await self._work[task](connection)
                except Exception:
                    # This turn is spent; the next comes an interval later. One tenant's failure is not
                    # another's.
                    log.exception("scheduled_task_failed", task=task)

    async def _reconcile(self, connection: Document) -> None:
        run, started = await start_reconcile(self._db, self._broker, connection["tenant"])
        log.info("scheduled_reconcile", run_id=run["_id"], started=started)
