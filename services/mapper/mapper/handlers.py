"""The mapper's handlers: store fetched records, and re-map stored contracts after a mapping change."""

from __future__ import annotations

from typing import Any

import structlog

from contracts_common.messages import FetchedRecord, RemapTask
from contracts_common.messaging import Broker, Delivery
from contracts_common.metrics import MAPPING_ERRORS, RECORDS
from contracts_common.storage.contracts import Contracts
from contracts_common.storage.database import Database
from contracts_common.storage.runs import Outcome, Runs, RunStatus
from mapper.current_mapping import MappingCache

log = structlog.get_logger(__name__)


def error_dict(error: Any) -> dict[str, Any]:
    if hasattr(error, "model_dump"):
        return dict(error.model_dump(mode="json"))
    return dict(vars(error))


class RecordHandlers:
    def __init__(
        self, *, db: Database, broker: Broker, runs: Runs, contracts: Contracts, mappings: MappingCache
    ) -> None:
        self._db = db
        self._broker = broker
        self._runs = runs
        self._contracts = contracts
        self._mappings = mappings

    async def store_record(self, message: FetchedRecord, delivery: Delivery) -> None:
        record = message.record
        mapping = await self._mappings.get(message.tenant)
        result = mapping.compiled.apply(record)
        errors = [error_dict(e) for e in result.errors]
        if errors:
            MAPPING_ERRORS.inc(len(errors))
        outcome = await self._contracts.upsert_record(
            message.tenant,
            record,
            fields=result.fields,
            field_errors=errors,
            mapping_version=mapping.version,
            attachments=None if message.documents_unchanged else [d.model_dump() for d in message.documents],
            document_failures=[f.model_dump() for f in message.document_failures],
            run_id=message.run_id,
        )
        RECORDS.labels(outcome=outcome.value).inc()
        log.debug("record_stored", record_id=record.get("id"), outcome=outcome.value)
        if message.run_id is not None:
            slot = str(delivery.headers.get("slot") or record["id"])
            run_errors = (
                [
                    {
                        "record_id": record["id"],
                        "ironcladId": record.get("ironcladId"),
                        "field_errors": errors[:5],
                    }
                ]
                if errors
                else []
            )
            await self._runs.count_slots(
                message.tenant,
                message.run_id,
                [(slot, outcome, record["id"])],
                extra={"mapping_errors": len(errors)} if errors else None,
                errors=run_errors,
            )

    async def remap(self, task: RemapTask, delivery: Delivery) -> None:
        """Re-map one batch from the stored raw records; the next batch is chained as its own message."""
        run = await self._runs.start(task.tenant, task.run_id)
        if run is None:
            return
        mapping = await self._mappings.get(task.tenant, at_least=task.mapping_version)
        if mapping.version != task.mapping_version:
            # A newer mapping superseded this one; its own run re-maps everything.
            await self._runs.finish(
                task.tenant, task.run_id, status=RunStatus.SUCCEEDED, error="superseded by a newer mapping"
            )
            return
        if run["pages_total"] is None:
            total = await self._db.contracts.count_documents({"tenant": task.tenant})
            await self._runs.plan(
                task.tenant, task.run_id, total=total, pages_total=0, listing_complete=False
            )
        query: dict[str, Any] = {"tenant": task.tenant}
        if task.after_record_id:
            query["ironclad.id"] = {"$gt": task.after_record_id}
        batch = [
            d
            async for d in self._db.contracts.find(query, {"raw": 1, "mapping_version": 1, "ironclad.id": 1})
            .sort("ironclad.id", 1)
            .limit(task.batch_size)
        ]
        items: list[tuple[str, Outcome, str | None]] = []
        mapping_errors = 0
        for doc in batch:
            rid = doc["ironclad"]["id"]
            if doc.get("mapping_version") == mapping.version:
                items.append((f"remap:{rid}", Outcome.UNCHANGED, rid))
                continue
            result = mapping.compiled.apply(doc["raw"])
            errors = [error_dict(e) for e in result.errors]
            mapping_errors += len(errors)
            await self._db.contracts.update_one(
                {"_id": doc["_id"], "mapping_version": {"$ne": mapping.version}},
                {
                    "$set": {
                        "fields": result.fields,
                        "field_errors": errors,
                        "mapping_version": mapping.version,
                    }
                },
            )
            items.append((f"remap:{rid}", Outcome.UPDATED, rid))
        if len(batch) == task.batch_size:
            await self._broker.publish_with_retry(
                task.model_copy(update={"after_record_id": batch[-1]["ironclad"]["id"]})
            )
        await self._runs.count_slots(
            task.tenant,
            task.run_id,
            items,
            extra={"mapping_errors": mapping_errors} if mapping_errors else None,
        )
        if len(batch) < task.batch_size:
            await self._runs.mark_listing_complete(task.tenant, task.run_id)
            await self._runs.try_finish(task.tenant, task.run_id)
