"""The mapper's handlers: store fetched records, and re-map stored contracts after a mapping change."""

from __future__ import annotations

from typing import Any

import structlog
from pymongo import UpdateOne

from contracts_common.commands import after_progress
from contracts_common.current_mapping import MappingCache
from contracts_common.messages import FetchedBatch, FetchedItem, RemapTask
from contracts_common.messaging import Broker, Delivery
from contracts_common.metrics import MAPPING_ERRORS, RECORDS
from contracts_common.storage.contracts import Contracts, ContractWrite, parse_timestamp
from contracts_common.storage.database import Database
from contracts_common.storage.runs import Counted, Outcome, Runs, RunStatus
from contracts_common.timeutil import utcnow

log = structlog.get_logger(__name__)


def error_dict(error: Any) -> dict[str, Any]:
    if hasattr(error, "model_dump"):
        return dict(error.model_dump(mode="json"))
    return dict(vars(error))


def _record_id(record: dict[str, Any]) -> str | None:
    value = record.get("id")
    return value if isinstance(value, str) else None


def unstorable(record: dict[str, Any]) -> str | None:
    """Why a record cannot be stored at all, or None: it needs an id and a parseable lastUpdated."""
    if not _record_id(record):
        return "the record has no id"
    stamp = record.get("lastUpdated")
    if not isinstance(stamp, str):
        return "the record has no lastUpdated"
    try:
        parse_timestamp(stamp)
    except ValueError:
        return f"lastUpdated is not a timestamp: {stamp[:40]!r}"
    return None


class RecordHandlers:
    def __init__(
        self,
        *,
        db: Database,
        broker: Broker,
        runs: Runs,
        contracts: Contracts,
        mappings: MappingCache,
        remap_batch_size: int,
    ) -> None:
        self._db = db
        self._remap_batch_size = remap_batch_size
        self._broker = broker
        self._runs = runs
        self._contracts = contracts
        self._mappings = mappings

    async def store_batch(self, message: FetchedBatch, delivery: Delivery) -> None:
        """Map and store a batch in one bulk write, then count all its slots in one counter update.

        An item that cannot be stored at all (no usable `id` or `lastUpdated`) is counted `failed`
        with its reason, and the rest of the batch is stored: one bad record does not hold up its page.
        Anything else that fails fails the whole batch, which is then delivered again.
        """
        mapping = await self._mappings.get(message.tenant)
        writes: list[ContractWrite] = []
        stored_items: list[FetchedItem] = []
        counted: list[Counted] = []
        run_errors: list[dict[str, Any]] = []
        for item in message.items:
            problem = unstorable(item.record)
            if problem is not None:
                RECORDS.labels(outcome=Outcome.FAILED.value).inc()
                log.warning("record_unstorable", slot=item.slot, reason=problem)
                counted.append(Counted(item.slot, Outcome.FAILED, _record_id(item.record)))
                run_errors.append({"record_id": _record_id(item.record), "error": problem})
                continue
            result = mapping.compiled.apply(item.record)
            errors = [error_dict(e) for e in result.errors]
            if errors:
                MAPPING_ERRORS.inc(len(errors))
                run_errors.append(
                    {
                        "record_id": item.record["id"],
                        "ironcladId": item.record.get("ironcladId"),
                        "field_errors": errors[:5],
                    }
                )
            stored_items.append(item)
            writes.append(
                ContractWrite(
                    record=item.record,
                    fields=result.fields,
                    field_errors=errors,
                    attachments=None
                    if item.documents_unchanged
                    else [d.model_dump() for d in item.documents],
                    document_failures=[f.model_dump() for f in item.document_failures],
                    slot=item.slot,
                )
            )
        outcomes = await self._contracts.upsert_batch(
            message.tenant, writes, mapping_version=mapping.version, run_id=message.run_id
        )
        for outcome in outcomes:
            RECORDS.labels(outcome=outcome.value).inc()
        log.debug("batch_stored", records=len(writes), unchanged=len(message.unchanged))
        if message.run_id is None:
            return
        counted += [
            Counted(
                slot=item.slot,
                outcome=outcome,
                record_id=item.record["id"],
                mapping_errors=len(write.field_errors),
                documents_downloaded=item.documents_downloaded,
                documents_failed=len(item.document_failures),
            )
            for item, write, outcome in zip(stored_items, writes, outcomes, strict=True)
        ]
        counted += [Counted(u.slot, Outcome.UNCHANGED, u.record_id) for u in message.unchanged]
        run = await self._runs.count(message.tenant, message.run_id, counted, errors=run_errors)
        # Storing a listing's page makes room in its window: its next pages, or its close, may be ours.
        await after_progress(self._broker, self._runs, run)

    async def remap(self, task: RemapTask, delivery: Delivery) -> None:
        """Plan a re-map (a task without records), or re-map one planned batch."""
        if task.record_ids is None:
            await self._plan_remap(task)
        else:
            await self._remap_batch(task, task.record_ids)

    async def _plan_remap(self, task: RemapTask) -> None:
        """List the tenant's contracts once (their ids only) and send one task per batch.

        Batches name their records, so each is read by equality on the (tenant, ironclad.id) index and
        every batch can go to any mapper replica at once. Planning again (a redelivery) sends the same
        batches, which count once. Contracts stored after the listing are mapped with the new mapping
        when they are written.
        """
        run = await self._runs.start(task.tenant, task.run_id)
        if run is None or await self._superseded(task):
            return
        ids = [
            d["ironclad"]["id"]
            async for d in self._db.contracts.find({"tenant": task.tenant}, {"_id": 0, "ironclad.id": 1})
        ]
        size = self._remap_batch_size
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        await self._runs.plan(task.tenant, task.run_id, total=len(ids), pages_total=0)
        for number, record_ids in enumerate(batches):
            await self._broker.publish_with_retry(
                task.model_copy(update={"batch": number, "record_ids": record_ids})
            )
        if not batches:
            await self._runs.try_finish(task.tenant, task.run_id)

    async def _superseded(self, task: RemapTask) -> bool:
        mapping = await self._mappings.get(task.tenant, at_least=task.mapping_version)
        if mapping.version == task.mapping_version:
            return False
        # A newer mapping superseded this one; its own run re-maps everything.
        await self._runs.finish(
            task.tenant, task.run_id, status=RunStatus.SUCCEEDED, error="superseded by a newer mapping"
        )
        return True

    async def _remap_batch(self, task: RemapTask, record_ids: list[str]) -> None:
        """One read, one bulk write and one count for the batch.

        Each contract re-mapped by this run is marked with it (`remapped_by`), so a redelivered batch
        splits into updated and unchanged exactly as the first delivery did and its two weighted
        counting rows are refused as already counted, however far the first delivery got.
        """
        mapping = await self._mappings.get(task.tenant, at_least=task.mapping_version)
        if mapping.version != task.mapping_version:
            return  # the planning task finished the run as superseded
        batch = [
            d
            async for d in self._db.contracts.find(
                {"tenant": task.tenant, "ironclad.id": {"$in": record_ids}},
                {"raw": 1, "mapping_version": 1, "remapped_by": 1, "field_errors": 1},
            )
        ]
        updates: list[UpdateOne] = []
        now = utcnow()
        updated = unchanged = mapping_errors = 0
        for doc in batch:
            if doc.get("mapping_version") == mapping.version:
                if doc.get("remapped_by") == task.run_id:
                    updated += 1
                    mapping_errors += len(doc.get("field_errors") or [])
                else:
                    unchanged += 1
                continue
            result = mapping.compiled.apply(doc["raw"])
            errors = [error_dict(e) for e in result.errors]
            mapping_errors += len(errors)
            updated += 1
            updates.append(
                UpdateOne(
                    {"_id": doc["_id"], "mapping_version": {"$ne": mapping.version}},
                    {
                        "$set": {
                            "fields": result.fields,
                            "field_errors": errors,
                            "mapping_version": mapping.version,
                            "remapped_by": task.run_id,
                            "updated_at": now,
                        }
                    },
                )
            )
        if updates:
            await self._db.contracts.bulk_write(updates, ordered=False)
        # A contract erased since the listing (only a tenant's erasure does that) has nothing to write.
        missing = len(record_ids) - len(batch)
        key = f"remap:{task.batch}"
        counted = [
            Counted(f"{key}:updated", Outcome.UPDATED, None, mapping_errors=mapping_errors, weight=updated),
            Counted(f"{key}:unchanged", Outcome.UNCHANGED, None, weight=unchanged),
            Counted(f"{key}:missing", Outcome.SKIPPED_STALE, None, weight=missing),
        ]
        # Counting the last batch finishes the run (the plan is stored before any batch is sent).
        await self._runs.count(task.tenant, task.run_id, [c for c in counted if c.weight])
