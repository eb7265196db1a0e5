"""Webhook events become syncs: each event is resolved into the records it may have changed.

Ironclad's webhooks are thin triggers (ids only), so nothing in them is stored as data:
- `record_contract_status_changed` names a record: fetch it;
- workflow events name a workflow: `GET /workflows/{id}` gives its `recordIds`: fetch those.

Events of one tenant arriving within `event_coalesce_seconds` (or until `max_batch` are held) become one
incremental sync: one run of kind `webhook`, each record fetched once, however many events named it. The
events stay unacked while they are held and are acked only after every resulting record was confirmed
published to the mapper; if that fails they are all delivered again. An event for a tenant that is
disconnected (or has Automatic Sync off) is acked and dropped with a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from pymongo.errors import BulkWriteError

from contracts_common.ironclad import IroncladClient, IroncladNotFound
from contracts_common.ironclad_access import IroncladAccess, Lane, NotConnected
from contracts_common.messages import RunKind, WebhookEvent
from contracts_common.messaging import Broker, Delivery
from contracts_common.metrics import RECORDS
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.runs import Runs
from contracts_common.timeutil import utcnow
from importer.failures import FAILURES, RunFailurePolicy
from importer.publishing import RecordPublisher, get_records

log = structlog.get_logger(__name__)

# Longer than Ironclad retries a delivery (about 3 days) and than the gateway's dedupe rows.
EVENT_CLAIM_TTL = timedelta(days=4)

RECORD_ID_KEYS = ("recordID", "recordId", "record_id")
WORKFLOW_ID_KEYS = ("workflowID", "workflowId", "workflow_id")


def _first_str(payload: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None


@dataclass
class Targets:
    """What a batch of events asks us to look at."""

    record_ids: list[str] = field(default_factory=list)
    workflow_ids: list[str] = field(default_factory=list)
    ignored: int = 0


def targets_of(events: list[WebhookEvent]) -> Targets:
    out = Targets()
    for event in events:
        payload = event.payload
        record_id = _first_str(payload, RECORD_ID_KEYS)
        record = payload.get("record")
        if record_id is None and isinstance(record, dict):
            record_id = _first_str(record, ("id", *RECORD_ID_KEYS))
        workflow_id = _first_str(payload, WORKFLOW_ID_KEYS)
        if record_id is not None:
            out.record_ids.append(record_id)
        elif event.event.startswith("workflow_") and workflow_id is not None:
            out.workflow_ids.append(workflow_id)
        else:
            out.ignored += 1
    out.record_ids = list(dict.fromkeys(out.record_ids))
    out.workflow_ids = list(dict.fromkeys(out.workflow_ids))
    return out


@dataclass
class _Batch:
    events: list[tuple[WebhookEvent, Delivery]] = field(default_factory=list)
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    full: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    started: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    last_event: float = field(default_factory=lambda: asyncio.get_running_loop().time())


class EventHandlers:
    def __init__(
        self,
        *,
        access: IroncladAccess,
        broker: Broker,
        runs: Runs,
        contracts: Contracts,
        publisher: RecordPublisher,
        failures: RunFailurePolicy,
        coalesce_seconds: float,
        concurrency: int,
        max_batch: int = 200,
        max_wait_factor: float = 5.0,
        claims: Any = None,
    ) -> None:
        self._access = access
        self._broker = broker
        self._runs = runs
        self._contracts = contracts
        self._publisher = publisher
        self._failures = failures
        self._coalesce = coalesce_seconds
        self._concurrency = concurrency
        self._max_batch = max_batch
        self._max_wait = coalesce_seconds * max(1.0, max_wait_factor)
        # Event-id claims (the `webhook_work` collection); None skips them (the coalescer's unit tests).
        self._claims = claims
        self._tenant_locks: dict[str, asyncio.Lock] = {}
        self._pending: dict[str, _Batch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, message: WebhookEvent, delivery: Delivery) -> None:
        """Hold the event until its tenant's batch is synced; raising makes the consumer redeliver it."""
        batch = self._pending.get(message.tenant)
        if batch is None or batch.closed:
            batch = _Batch()
            self._pending[message.tenant] = batch
            task = asyncio.get_running_loop().create_task(self._flush_later(message.tenant, batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        batch.events.append((message, delivery))
        batch.last_event = asyncio.get_running_loop().time()
        if len(batch.events) >= self._max_batch:
            batch.closed = True
            batch.full.set()
        # Shielded: a handler cancelled at shutdown must not cancel the batch the others wait for.
        await asyncio.shield(batch.done)

    async def _flush_later(self, tenant: str, batch: _Batch) -> None:
        """Debounce: sync once the tenant's events pause for `coalesce_seconds` (at most `max_wait` after
        the first), and never while the tenant's previous sync runs; events keep joining meanwhile."""
        loop = asyncio.get_running_loop()
        while not batch.full.is_set():
            wait = min(batch.last_event + self._coalesce, batch.started + self._max_wait) - loop.time()
            if wait <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(batch.full.wait(), wait)
        try:
            async with self._tenant_locks.setdefault(tenant, asyncio.Lock()):
                batch.closed = True
                if self._pending.get(tenant) is batch:
                    del self._pending[tenant]
                events = await self._first_deliveries(tenant, batch.events)
                await self.sync(tenant, events, max(d.delivery_count for _, d in batch.events))
        except BaseException as exc:
            if not batch.done.done():
                batch.done.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not batch.done.done():
            batch.done.set_result(None)

    async def _first_deliveries(
        self, tenant: str, held: list[tuple[WebhookEvent, Delivery]]
    ) -> list[WebhookEvent]:
        """The events not already claimed by another sync: one piece of work per event id, even when
        two gateways published the same delivery at once.

        One insert per batch claims each event id for the message that carries it. A claim by another
        message is a duplicate publish: dropped. A claim by this same message is its redelivery (the
        importer that claimed it died before acking): processed again.
        """
        if self._claims is None:
            return [m for m, _ in held]
        now = utcnow()
        rows = [
            {
                "_id": f"{tenant}:{m.event_id}",
                "message_id": d.message_id,
                "claimed_at": now,
                "expires_at": now + EVENT_CLAIM_TTL,
            }
            for m, d in held
        ]
        try:
            await self._claims.insert_many(rows, ordered=False)
            return [m for m, _ in held]
        except BulkWriteError as exc:
            write_errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in write_errors):
                raise
            refused = {e["index"] for e in write_errors}
        claimed_by = {
            doc["_id"]: doc.get("message_id")
            async for doc in self._claims.find({"_id": {"$in": [rows[i]["_id"] for i in refused]}})
        }
        kept: list[WebhookEvent] = []
        for index, (message, delivery) in enumerate(held):
            if index in refused and claimed_by.get(rows[index]["_id"]) != delivery.message_id:
                log.info("webhook_event_duplicate_dropped", tenant=tenant, event_id=message.event_id)
                continue
            kept.append(message)
        return kept

    async def sync(self, tenant: str, events: list[WebhookEvent], delivery_count: int = 0) -> str | None:
        """One incremental sync for `events` of `tenant`; returns the run id (None when nothing to fetch)."""
        event_ids = [e.event_id for e in events]
        try:
            client, connection = await self._access.client(tenant, Lane.LIVE)
        except NotConnected as exc:
            log.info(
                "webhook_events_dropped",
                tenant=tenant,
                reason=f"connection {exc.status}",
                event_ids=event_ids,
            )
            return None
        if not (connection.get("automatic_sync") or {}).get("enabled"):
            log.info(
                "webhook_events_dropped", tenant=tenant, reason="automatic sync off", event_ids=event_ids
            )
            return None
        targets = targets_of(events)
        run_id: str | None = None
        delivery = Delivery(message_id=None, delivery_count=delivery_count)
        try:
            record_ids = list(targets.record_ids)
            for workflow_id in targets.workflow_ids:
                record_ids.extend(await self._workflow_records(client, workflow_id))
            record_ids = list(dict.fromkeys(record_ids))
            if not record_ids:
                log.info(
                    "webhook_events_without_records",
                    tenant=tenant,
                    events=len(events),
                    ignored=targets.ignored,
                )
                return None
            run = await self._runs.create_running(tenant, RunKind.WEBHOOK, total=len(record_ids))
            run_id = str(run["_id"])
            log.info(
                "webhook_sync_started",
                tenant=tenant,
                run_id=run_id,
                events=len(events),
                records=len(record_ids),
            )
            gone = await self._fetch_and_publish(tenant, run_id, client, record_ids)
            if gone:
                # Deleted in Ironclad since the event: nothing to fetch; the reconciliation marks deletions.
                await self._runs.add_expected(tenant, run_id, -len(gone))
                await self._runs.try_finish(tenant, run_id)
            await self._access.connections.touch_success(tenant)
            return run_id
        except FAILURES as exc:
            try:
                await self._failures.handle(
                    exc,
                    tenant=tenant,
                    run_id=run_id,
                    delivery=delivery,
                    generation=connection.get("generation"),
                )
            except Exception:
                # Delivered again: this run ends here, the redelivery starts a new one.
                if run_id is not None:
                    await self._runs.fail(tenant, run_id, f"retrying after {type(exc).__name__}: {exc}")
                raise
            return run_id
        except Exception as exc:
            if run_id is not None:
                await self._runs.fail(tenant, run_id, f"retrying after {type(exc).__name__}: {exc}")
            raise

    async def _workflow_records(self, client: IroncladClient, workflow_id: str) -> list[str]:
        try:
            workflow = await client.get_workflow(workflow_id)
        except IroncladNotFound:
            log.info("webhook_workflow_not_found", workflow_id=workflow_id)
            return []
        ids = workflow.get("recordIds") or []
        return [i for i in ids if isinstance(i, str) and i] if isinstance(ids, list) else []

    async def _fetch_and_publish(
        self, tenant: str, run_id: str, client: IroncladClient, record_ids: list[str]
    ) -> list[str]:
        """Fetch the records, then hand them to the mapper as one batch; returns the ids not found."""
        fetched = await get_records(client, record_ids, self._concurrency)
        records = [r for r in fetched if r is not None]
        RECORDS.labels(outcome="fetched").inc(len(records))
        known = await self._contracts.known_versions(tenant, [r["id"] for r in records])
        await self._publisher.publish(
            client, tenant, run_id, [(r["id"], r) for r in records], known, lane=Lane.LIVE
        )
        return [rid for rid, r in zip(record_ids, fetched, strict=True) if r is None]
