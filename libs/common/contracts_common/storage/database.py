"""MongoDB access through PyMongo's async API, and every index, created at start-up.

Every unique key starts with the tenant, so nothing can collide across tenants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridfs import AsyncGridFSBucket
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from contracts_common.metrics import MONGODB_COMMANDS

Document = dict[str, Any]

DOCUMENTS_BUCKET = "documents"

INDEXES: dict[str, list[IndexModel]] = {
    "connections": [
        IndexModel([("tenant", ASCENDING)], unique=True, name="tenant_unique"),
        # The scheduler's one query per tick: connected tenants with periodic work due.
        IndexModel([("next_due_at", ASCENDING)], name="next_due"),
    ],
    "runs": [
        IndexModel([("tenant", ASCENDING), ("created_at", DESCENDING)], name="tenant_created"),
        IndexModel(
            [("tenant", ASCENDING), ("kind", ASCENDING), ("status", ASCENDING)], name="tenant_kind_status"
        ),
        # The run supervisor's query: running runs that stopped moving.
        IndexModel([("status", ASCENDING), ("updated_at", ASCENDING)], name="status_updated"),
        # ... and finished runs whose notification was never confirmed (Runs.announce_overdue).
        IndexModel(
            [("announce_pending", ASCENDING), ("finished_at", ASCENDING)],
            name="announce_pending",
            partialFilterExpression={"announce_pending": True},
        ),
    ],
    "run_pages": [
        IndexModel(
            [("tenant", ASCENDING), ("run_id", ASCENDING), ("page", ASCENDING)], unique=True, name="page_once"
        )
    ],
    "run_items": [
        IndexModel(
            [("tenant", ASCENDING), ("run_id", ASCENDING), ("slot", ASCENDING)], unique=True, name="slot_once"
        ),
        IndexModel([("created_at", ASCENDING)], expireAfterSeconds=30 * 24 * 3600, name="ttl"),
    ],
    "contracts": [
        IndexModel([("tenant", ASCENDING), ("ironclad.id", ASCENDING)], unique=True, name="tenant_record"),
        IndexModel([("tenant", ASCENDING), ("ironclad.ironcladId", ASCENDING)], name="tenant_ironclad_id"),
        IndexModel([("tenant", ASCENDING), ("_id", ASCENDING)], name="tenant_id"),
        IndexModel([("tenant", ASCENDING), ("mapping_version", ASCENDING)], name="tenant_mapping_version"),
        IndexModel([("tenant", ASCENDING), ("last_seen_run", ASCENDING)], name="tenant_last_seen"),
        # The feed recorder's fallback when its change stream can no longer resume: every contract
        # changed since it last recorded (storage/contracts.py sets updated_at on every change).
        IndexModel([("updated_at", ASCENDING)], name="updated_at"),
    ],
    # The change feed (storage/changes.py): one document per tenant and recorded group, holding the
    # changes seq_from..seq_to; documents expire after CHANGES_RETENTION_DAYS (expires_at).
    "changes": [
        IndexModel([("tenant", ASCENDING), ("seq_from", ASCENDING)], unique=True, name="tenant_seq_from"),
        IndexModel([("tenant", ASCENDING), ("seq_to", ASCENDING)], name="tenant_seq_to"),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry"),
    ],
    # The feed recorder's resume token and per-tenant heads, by _id.
    "feed_state": [],
    "mappings": [
        IndexModel([("tenant", ASCENDING), ("version", DESCENDING)], unique=True, name="tenant_version")
    ],
    "custom_target_fields": [
        IndexModel([("tenant", ASCENDING), ("name", ASCENDING)], unique=True, name="tenant_name")
    ],
    # The gateway's groups of handed-off event ids (one document per group, see HandedOffEvents).
    "webhook_deliveries": [
        IndexModel([("tenant", ASCENDING), ("event_ids", ASCENDING)], name="tenant_event_ids"),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry"),
    ],
    "schema_cache": [IndexModel([("tenant", ASCENDING)], unique=True, name="tenant_unique")],
    "leases": [IndexModel([("tenant", ASCENDING), ("name", ASCENDING)], unique=True, name="tenant_name")],
    "writebacks": [
        IndexModel(
            [("tenant", ASCENDING), ("operation_id", ASCENDING)], unique=True, name="tenant_operation"
        ),
        IndexModel([("tenant", ASCENDING), ("ironclad_record_id", ASCENDING)], name="tenant_record"),
    ],
    # Who did what to a workspace, newest first by _id (storage.audit).
    "audit": [IndexModel([("tenant", ASCENDING), ("_id", DESCENDING)], name="tenant_newest")],
    # Event ids claimed by the importer's webhook syncs (one piece of work per event id).
    "webhook_work": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry")],
    # Outbound notifications (storage/notifications.py): one endpoint per tenant, and every delivery
    # attempt, newest first by _id, once per (notification, attempt), expiring after 30 days.
    "notification_endpoints": [IndexModel([("tenant", ASCENDING)], unique=True, name="tenant_unique")],
    "notification_deliveries": [
        IndexModel(
            [("tenant", ASCENDING), ("notification_id", ASCENDING), ("attempt", ASCENDING)],
            unique=True,
            name="attempt_once",
        ),
        IndexModel([("tenant", ASCENDING), ("_id", DESCENDING)], name="tenant_newest"),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry"),
    ],
    "rate_limits": [IndexModel([("expire_at", ASCENDING)], expireAfterSeconds=0, name="idle_expiry")],
    # Dead-lettered messages kept for an operator (storage/dead_letters.py), newest first by `order`,
    # listed across queues, per queue or per tenant; a tenant's health counts its own.
    "dead_letters": [
        IndexModel([("order", DESCENDING)], name="newest"),
        IndexModel([("queue", ASCENDING), ("order", DESCENDING)], name="queue_newest"),
        IndexModel([("tenant", ASCENDING), ("order", DESCENDING)], name="tenant_newest"),
    ],
    # The last health announced per tenant (storage/health_state.py), by _id = tenant.
    "health_state": [
        IndexModel(
            [("announce_pending", ASCENDING), ("changed_at", ASCENDING)],
            name="announce_pending",
            partialFilterExpression={"announce_pending": True},
        )
    ],
    f"{DOCUMENTS_BUCKET}.files": [
        IndexModel(
            [
                ("metadata.tenant", ASCENDING),
                ("metadata.record_id", ASCENDING),
                ("metadata.key", ASCENDING),
                ("metadata.sha256", ASCENDING),
            ],
            name="tenant_record_key_hash",
            # One stored file per document content: concurrent or redelivered downloads of the same
            # bytes collide here when the second file is finalised, whatever the timing.
            unique=True,
            partialFilterExpression={"metadata.source": "ironclad"},
        ),
        # GridFS's own indexes, made once at start-up here rather than checked by every upload.
        IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"),
    ],
    f"{DOCUMENTS_BUCKET}.chunks": [
        IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1"),
    ],
}


class CommandCounter(monitoring.CommandListener):
    """Counts every command the driver sends (`contracts_mongodb_commands_total`): round trips per
    record can be read in production as they are in the benchmarks."""

    def __init__(self, service: str) -> None:
        self._service = service

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        MONGODB_COMMANDS.labels(service=self._service, command=event.command_name).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@dataclass
class Database:
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]

    @classmethod
    def connect(cls, url: str, name: str, *, service: str = "other") -> Database:
        client: AsyncMongoClient[Document] = AsyncMongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=10_000,
            appname=f"contracts-ai-{service}",
            event_listeners=[CommandCounter(service)],
        )
        return cls(client=client, db=client[name])

    def __getattr__(self, name: str) -> AsyncCollection[Document]:
        # Collections by attribute: db.contracts, db.runs, ...
        if name in INDEXES:
            return self.db[name]
        raise AttributeError(name)

    @property
    def documents(self) -> AsyncGridFSBucket:
        return AsyncGridFSBucket(self.db, bucket_name=DOCUMENTS_BUCKET)

    async def ensure_indexes(self) -> None:
        for collection, indexes in INDEXES.items():
            if indexes:
                await self.db[collection].create_indexes(indexes)

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self.client.close()
