"""Write-back operations (`writebacks`): the one module that reads and writes the collection.

The gateway stores an operation `queued` with what was asked and publishes its task; the importer claims it
(`running`, one more attempt), records what it sent and ends it `succeeded` or `failed`. One document per
(tenant, operation id), `_id` "{tenant}:{operation_id}", so an operation id asked again finds the first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import utcnow

WritebackAction = Literal["create_record", "update_record", "upload_document"]
WritebackStatus = Literal["queued", "running", "succeeded", "failed"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})


class WritebackRequest(BaseModel):
    """What was asked: a record type, name and fields to write, or a stored document to upload."""

    model_config = ConfigDict(extra="forbid")
    record_type: str | None = None
    name: str | None = None
    fields: dict[str, Any] | None = None
    attachment_key: str | None = None
    document_id: str | None = None
    filename: str | None = None
    size: int | None = None
    sha256: str | None = None


class WritebackOperation(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    id: str = Field(alias="_id")
    tenant: str
    operation_id: str
    action: WritebackAction
    contract_id: str
    ironclad_record_id: str | None = None
    status: WritebackStatus
    request: WritebackRequest = Field(default_factory=WritebackRequest)
    attempts: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Set just before POST /records is sent, so a retry after a crash looks before creating twice.
    create_sent_at: datetime | None = None
    # A document write-back: the upload was sent (a retry then looks for it before uploading again).
    uploaded: bool | None = None
    last_error: str | None = None
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None

    @classmethod
    def queued(
        cls,
        tenant: str,
        operation_id: str,
        action: WritebackAction,
        contract_id: str,
        request: WritebackRequest,
        ironclad_record_id: str | None = None,
    ) -> WritebackOperation:
        now = utcnow()
        return cls(
            id=f"{tenant}:{operation_id}",
            tenant=tenant,
            operation_id=operation_id,
            action=action,
            contract_id=contract_id,
            ironclad_record_id=ironclad_record_id,
            status="queued",
            request=request,
            attempts=0,
            created_at=now,
            updated_at=now,
        )

    def document(self) -> Document:
        return self.model_dump(by_alias=True, exclude_none=True, mode="python")


def _key(tenant: str, operation_id: str) -> dict[str, str]:
    return {"tenant": tenant, "operation_id": operation_id}


def _parsed(doc: Document | None) -> WritebackOperation | None:
    return None if doc is None else WritebackOperation.model_validate(doc)


class Writebacks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, operation: WritebackOperation) -> bool:
        """Store a new operation; False when the tenant already has one with this operation id."""
        try:
            await self._db.writebacks.insert_one(operation.document())
        except DuplicateKeyError:
            return False
        return True

    async def get(self, tenant: str, operation_id: str) -> WritebackOperation | None:
        return _parsed(await self._db.writebacks.find_one(_key(tenant, operation_id)))

    async def recent(
        self, tenant: str, *, limit: int, contract_id: str | None = None
    ) -> list[WritebackOperation]:
        query: dict[str, Any] = {"tenant": tenant}
        if contract_id:
            query["contract_id"] = contract_id
        cursor = self._db.writebacks.find(query).sort("created_at", -1).limit(limit)
        return [WritebackOperation.model_validate(doc) async for doc in cursor]

    async def claim(self, tenant: str, operation_id: str) -> WritebackOperation | None:
        """The operation, now `running` with one more attempt; None when it is already settled."""
        now = utcnow()
        doc = await self._db.writebacks.find_one_and_update(
            {**_key(tenant, operation_id), "status": {"$nin": list(TERMINAL)}},
            {
                "$set": {"status": "running", "updated_at": now},
                "$min": {"started_at": now},
                "$inc": {"attempts": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return _parsed(doc)

    async def mark_create_sent(self, tenant: str, operation_id: str) -> bool:
        """Note that POST /records is about to be sent; False when an earlier attempt already did."""
        doc = await self._db.writebacks.find_one_and_update(
            {**_key(tenant, operation_id), "create_sent_at": {"$exists": False}},
            {"$set": {"create_sent_at": utcnow(), "updated_at": utcnow()}},
        )
        return doc is not None

    async def update(
        self, tenant: str, operation_id: str, values: dict[str, Any], unset: tuple[str, ...] = ()
    ) -> None:
        update: dict[str, Any] = {"$set": {**values, "updated_at": utcnow()}}
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")
        await self._db.writebacks.update_one(_key(tenant, operation_id), update)

    async def succeed(self, tenant: str, operation_id: str, result: dict[str, Any]) -> None:
        values: dict[str, Any] = {
            "status": "succeeded",
            "result": result,
            "error": None,
            "finished_at": utcnow(),
        }
        if result.get("ironclad_record_id"):
            values["ironclad_record_id"] = result["ironclad_record_id"]
        await self.update(tenant, operation_id, values)

    async def fail(self, tenant: str, operation_id: str, error: dict[str, Any]) -> None:
        await self.update(tenant, operation_id, {"status": "failed", "error": error, "finished_at": utcnow()})
