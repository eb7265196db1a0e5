"""Message schemas exchanged through RabbitMQ.

Every message carries `schema_version`; a consumer rejects (dead-letters) a version it does not know
instead of guessing. Bodies are JSON; context that logs need (tenant, run id, correlation id) also
travels in headers, see `contracts_common.messaging`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class RunKind(StrEnum):
    IMPORT = "import"
    RECONCILE = "reconcile"
    WEBHOOK = "webhook"
    REMAP = "remap"
    DELTA = "delta"


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # The queue a message of this type goes to, as a suffix after the prefix (see Topology).
    queue: ClassVar[str]
    schema_version: Literal[1] = 1
    tenant: str


class StartRun(Message):
    """Plan an import or a reconciliation: list page 0, then fan out one PageTask per page."""

    queue: ClassVar[str] = "importer.runs"
    run_id: str
    kind: Literal[RunKind.IMPORT, RunKind.RECONCILE]
    max_contracts: int | None = Field(default=None, ge=1)


class PageTask(Message):
    """One page of GET /records: the unit of work that importer replicas share and resume from."""

    queue: ClassVar[str] = "importer.pages"
    run_id: str
    kind: Literal[RunKind.IMPORT, RunKind.RECONCILE]
    page: int = Field(ge=0)
    page_size: int = Field(ge=1, le=100)
    # How many records of this page belong to the run (the last page of a limited import takes fewer).
    take: int = Field(ge=0, le=100)


class ListingDone(Message):
    """Every page of a listing is done: run its closing pass, then (reconciliations) confirm deletions."""

    queue: ClassVar[str] = "importer.closing"
    run_id: str
    kind: Literal[RunKind.IMPORT, RunKind.RECONCILE]


class WebhookEvent(Message):
    """A verified Ironclad webhook delivery, as the gateway handed it off."""

    queue: ClassVar[str] = "importer.events"
    event_id: str
    event: str
    payload: dict[str, Any]
    received_at: datetime


class WritebackTask(Message):
    queue: ClassVar[str] = "importer.writeback"
    operation_id: str
    action: Literal["create_record", "update_record", "upload_document"]
    contract_id: str
    # For upload_document: the GridFS id of the document to upload and the Ironclad attachment key.
    document_id: str | None = None
    attachment_key: str | None = None
    record_type: str | None = None


class StoredDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    file_id: str
    filename: str
    content_type: str
    size: int
    sha256: str


class DocumentFailure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str
    error: str


class FetchedItem(BaseModel):
    """A fetched Ironclad record, its documents already in GridFS, and its place (`slot`) in the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    slot: str = Field(min_length=1)
    record: dict[str, Any]
    documents: list[StoredDocument] = Field(default_factory=list)
    document_failures: list[DocumentFailure] = Field(default_factory=list)
    # Documents left as they were because the record's lastUpdated did not change.
    documents_unchanged: bool = False
    # Documents whose bytes were downloaded from Ironclad for this item (counted once, with the slot).
    documents_downloaded: int = Field(default=0, ge=0)


class UnchangedItem(BaseModel):
    """A listed record MongoDB already holds at this version: counted in the run, nothing written."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    slot: str = Field(min_length=1)
    record_id: str


class FetchedBatch(Message):
    """The unit of work between importer and mapper: a page (or a webhook sync) of fetched records.

    The mapper stores a batch with one bulk write and counts it with one counter update; each slot is
    counted once per run however often the batch is redelivered.
    """

    queue: ClassVar[str] = "mapper.records"
    run_id: str | None
    items: list[FetchedItem] = Field(default_factory=list)
    unchanged: list[UnchangedItem] = Field(default_factory=list)


class LiveBatch(FetchedBatch):
    """A batch someone is waiting for (a webhook sync, an incremental pass): the mapper's live lane.

    Its own queue and consumer, so live changes never queue behind a backfill's pages (RabbitMQ's
    quorum queues have no priorities); stored exactly like a FetchedBatch.
    """

    queue: ClassVar[str] = "mapper.live"


class RemapTask(Message):
    """Re-map stored contracts with the tenant's current mapping, from their raw records.

    Without `record_ids` it plans the run: the mapper lists the tenant's contracts once and sends one
    task per batch (REMAP_BATCH_SIZE), numbered by `batch`, naming its records.
    """

    queue: ClassVar[str] = "mapper.remap"
    run_id: str
    mapping_version: int
    batch: int | None = Field(default=None, ge=0)
    record_ids: list[str] | None = Field(default=None, max_length=5000)


class Notification(Message):
    """An event announced to the tenant's notification endpoint (contracts_common.notifications).

    `notification_id` is the Standard Webhooks `webhook-id`: the same on every attempt, so a receiver can
    drop a duplicate. A failed attempt is published again, `attempt` + 1, through a retry queue."""

    queue: ClassVar[str] = "importer.notifications"
    notification_id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    occurred_at: datetime
    data: dict[str, Any] = Field(default_factory=dict)
    attempt: int = Field(default=1, ge=1)


MESSAGE_TYPES: tuple[type[Message], ...] = (
    StartRun,
    PageTask,
    ListingDone,
    WebhookEvent,
    WritebackTask,
    FetchedBatch,
    LiveBatch,
    RemapTask,
    Notification,
)
