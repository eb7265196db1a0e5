"""Ironclad connections, one per tenant; the client secret is stored only encrypted.

This module is the only writer of the `connections` collection. Besides the credentials, a connection
carries its tenant's periodic work (`schedule`, a `Schedule`): when each task last ran, when it is next
due, the incremental pass's cursor, and `next_due_at`, the earliest of the due times, on which the
importer's scheduler finds due tenants with one indexed query (see importer/scheduler.py). Whatever
changes what is due (connecting, Automatic Sync on or off, a webhook going down) sets `next_due_at` to
now, so the scheduler plans the tenant again at its next tick.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr
from pymongo import ReturnDocument

from contracts_common.crypto import SecretBox
from contracts_common.ironclad import IroncladCredentials
from contracts_common.ironclad.scopes import AUTOMATIC_SYNC_SCOPES
from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import iso, utcnow


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


class TaskSchedule(BaseModel):
    """One periodic task of one tenant: its last turn, its next due time, the replica that took it."""

    model_config = ConfigDict(extra="ignore")
    last_at: datetime | None = None
    due_at: datetime | None = None
    by: str | None = None


class DeltaSchedule(TaskSchedule):
    # The incremental pass reads changes from here on (moved only forward, see advance_delta_cursor).
    cursor: datetime | None = None


class Schedule(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reconcile: TaskSchedule = TaskSchedule()
    delta: DeltaSchedule = DeltaSchedule()
    webhook_health: TaskSchedule = TaskSchedule()

    @classmethod
    def of(cls, connection: Document) -> Schedule:
        return cls.model_validate(connection.get("schedule") or {})

    def task(self, name: str) -> TaskSchedule:
        entry: TaskSchedule = getattr(self, name)
        return entry


SCHEDULED_TASKS = ("reconcile", "delta", "webhook_health")


class Connections:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def get(self, tenant: str) -> Document | None:
        return await self._db.connections.find_one({"tenant": tenant})

    async def save_connected(
        self,
        tenant: str,
        credentials: IroncladCredentials,
        *,
        granted_scopes: list[str],
        missing_scopes: list[str],
    ) -> Document:
        """Replace the credentials in one write; mapping, runs and contracts are elsewhere and stay."""
        now = utcnow()
        doc = await self._db.connections.find_one_and_update(
            {"tenant": tenant},
            {
                "$set": {
                    "status": ConnectionStatus.CONNECTED.value,
                    "client_id": credentials.client_id,
                    "client_secret_encrypted": self._box.encrypt(
                        credentials.client_secret.get_secret_value()
                    ),
                    "user_email": credentials.user_email,
                    "region": credentials.region,
                    "granted_scopes": granted_scopes,
                    "missing_scopes": missing_scopes,
                    "connected_at": now,
                    "last_success_at": now,
                    "status_reason": None,
                    "updated_at": now,
                    # Plan its periodic work at the scheduler's next tick.
                    "next_due_at": now,
                },
                "$inc": {"generation": 1},
                "$setOnInsert": {"tenant": tenant, "created_at": now, "automatic_sync": {"enabled": False}},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        return doc

    def credentials(self, doc: Document) -> IroncladCredentials:
        return IroncladCredentials(
            client_id=doc["client_id"],
            client_secret=SecretStr(self._box.decrypt(doc["client_secret_encrypted"])),
            user_email=doc["user_email"],
            region=doc["region"],
        )

    async def mark_needs_reauth(self, tenant: str, reason: str, generation: int | None = None) -> bool:
        """Only the credentials that failed turn needs_reauth: a reconnect in between wins."""
        query: dict[str, Any] = {"tenant": tenant, "status": ConnectionStatus.CONNECTED.value}
        if generation is not None:
            query["generation"] = generation
        result = await self._db.connections.update_one(
            query,
            {
                "$set": {
                    "status": ConnectionStatus.NEEDS_REAUTH.value,
                    "status_reason": reason,
                    "updated_at": utcnow(),
                }
            },
        )
        return result.modified_count == 1

    async def touch_success(self, tenant: str) -> None:
        await self._db.connections.update_one({"tenant": tenant}, {"$set": {"last_success_at": utcnow()}})

    async def set_automatic_sync(self, tenant: str, state: dict[str, Any]) -> None:
        """Automatic Sync on or off; the scheduler plans the tenant again (its webhook check comes, goes)."""
        now = utcnow()
        # `next_due_at` only matters while connected: the scheduler's query asks for connected tenants.
        await self._db.connections.update_one(
            {"tenant": tenant}, {"$set": {"automatic_sync": state, "updated_at": now, "next_due_at": now}}
        )

    async def save_webhook_check(
        self,
        tenant: str,
        webhook_ids: list[str],
        fields: dict[str, Any],
        *,
        inc: dict[str, int] | None = None,
        state_changed: bool = False,
    ) -> bool:
        """What a webhook check found (`automatic_sync.<field>`), written only if Automatic Sync is still on
        with the same webhooks (a disable in between wins). A changed webhook state changes the
        reconciliation's interval, so the tenant is planned again. True if it was written."""
        update: dict[str, Any] = {"$set": {f"automatic_sync.{k}": v for k, v in fields.items()}}
        if inc:
            update["$inc"] = {f"automatic_sync.{k}": v for k, v in inc.items()}
        if state_changed:
            update["$set"]["next_due_at"] = utcnow()
        result = await self._db.connections.update_one(
            {
                "tenant": tenant,
                "status": ConnectionStatus.CONNECTED.value,
                "automatic_sync.enabled": True,
                "automatic_sync.webhook_ids": webhook_ids,
            },
            update,
        )
        return result.modified_count == 1

    # ------------------------------------------------------------------------------ periodic work

    async def due(self, now: datetime, limit: int) -> list[Document]:
        """Connected tenants with periodic work due by `now`, the longest waiting first: one query on
        the `next_due_at` index, whatever the number of tenants."""
        if limit <= 0:
            return []
        cursor = (
            self._db.connections.find(
                {"next_due_at": {"$lte": now}, "status": ConnectionStatus.CONNECTED.value},
                dict.fromkeys(_SCHEDULING_FIELDS, 1),
            )
            .sort("next_due_at", 1)
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def claim_turn(
        self, tenant: str, *, seen: datetime, tasks: dict[str, TaskSchedule], next_due_at: datetime | None
    ) -> bool:
        """Store the tenant's new plan if its `next_due_at` is still the one `seen`: True for exactly one
        replica, which then runs the turns the plan took (compare-and-set; the others' writes match
        nothing)."""
        changes: dict[str, Any] = {"next_due_at": next_due_at}
        for name, entry in tasks.items():
            for field in ("last_at", "due_at", "by"):
                changes[f"schedule.{name}.{field}"] = getattr(entry, field)
        result = await self._db.connections.update_one(
            {"tenant": tenant, "status": ConnectionStatus.CONNECTED.value, "next_due_at": seen},
            {"$set": changes},
        )
        return result.modified_count == 1

    async def schedule_unplanned(self, now: datetime) -> int:
        """Connections stored before `next_due_at` existed get planned at the next tick (start-up)."""
        result = await self._db.connections.update_many(
            {"status": ConnectionStatus.CONNECTED.value, "next_due_at": {"$exists": False}},
            {"$set": {"next_due_at": now}},
        )
        return result.modified_count

    async def advance_delta_cursor(self, tenant: str, generation: int | None, cursor: datetime) -> None:
        """Move the incremental pass's cursor forward (never back), for these credentials only."""
        await self._db.connections.update_one(
            {"tenant": tenant, "generation": generation}, {"$max": {"schedule.delta.cursor": cursor}}
        )

    async def disconnect(self, tenant: str, *, leftover_webhooks: list[str]) -> None:
        """Erase the credentials; remember what could not be cleaned in Ironclad."""
        now = utcnow()
        await self._db.connections.update_one(
            {"tenant": tenant},
            {
                "$set": {
                    "status": ConnectionStatus.DISCONNECTED.value,
                    "disconnected_at": now,
                    "updated_at": now,
                    "automatic_sync": {"enabled": False},
                    "pending_cleanup": {"webhook_ids": leftover_webhooks} if leftover_webhooks else None,
                    "granted_scopes": [],
                    "missing_scopes": [],
                },
                "$unset": {"client_secret_encrypted": "", "client_id": "", "next_due_at": ""},
                "$inc": {"generation": 1},
            },
        )

    async def connected_tenants(self) -> list[Document]:
        return [d async for d in self._db.connections.find({"status": ConnectionStatus.CONNECTED.value})]


# What a scheduler turn reads of a connection (the due query's projection): enough to plan the turn and
# to build the tenant's Ironclad client without reading the connection again.
_SCHEDULING_FIELDS = (
    "tenant",
    "status",
    "generation",
    "schedule",
    "next_due_at",
    "automatic_sync",
    "connected_at",
    "client_id",
    "client_secret_encrypted",
    "user_email",
    "region",
    "granted_scopes",
)


def automatic_sync_available(granted: list[str] | set[str]) -> bool:
    return AUTOMATIC_SYNC_SCOPES.issubset(set(granted))


def public_connection(doc: Document | None) -> dict[str, Any]:
    if doc is None or doc.get("status") == ConnectionStatus.DISCONNECTED.value:
        out: dict[str, Any] = {"status": ConnectionStatus.DISCONNECTED.value}
        if doc is not None:
            out["disconnected_at"] = iso(doc.get("disconnected_at"))
            if doc.get("pending_cleanup"):
                out["pending_cleanup"] = doc["pending_cleanup"]
        return out
    granted = doc.get("granted_scopes", [])
    sync = doc.get("automatic_sync") or {"enabled": False}
    return {
        "status": doc["status"],
        "status_reason": doc.get("status_reason"),
        "region": doc["region"],
        "user_email": doc["user_email"],
        "client_id": doc.get("client_id"),
        "granted_scopes": granted,
        "missing_scopes": doc.get("missing_scopes", []),
        "automatic_sync_available": automatic_sync_available(granted),
        "automatic_sync": {
            **{k: v for k, v in sync.items() if k not in ("checked_at",)},
            "checked_at": iso(sync.get("checked_at")),
        },
        "connected_at": iso(doc.get("connected_at")),
        "last_success_at": iso(doc.get("last_success_at")),
        # Periodic work (reconcile, delta, webhook_health): when each last ran and is next due.
        "schedule": {
            task: {"last_at": iso(entry.last_at), "due_at": iso(entry.due_at)}
            for task in SCHEDULED_TASKS
            if (entry := Schedule.of(doc).task(task)).last_at or entry.due_at
        },
    }
