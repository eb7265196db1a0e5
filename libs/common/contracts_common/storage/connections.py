"""Ironclad connections, one per tenant; the client secret is stored only encrypted."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import SecretStr
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
        await self._db.connections.update_one(
            {"tenant": tenant}, {"$set": {"automatic_sync": state, "updated_at": utcnow()}}
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
                "$unset": {"client_secret_encrypted": "", "client_id": ""},
                "$inc": {"generation": 1},
            },
        )

    async def connected_tenants(self) -> list[Document]:
        return [d async for d in self._db.connections.find({"status": ConnectionStatus.CONNECTED.value})]


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
            task: {"last_at": iso(entry.get("last_at")), "due_at": iso(entry.get("due_at"))}
            for task, entry in (doc.get("schedule") or {}).items()
            if isinstance(entry, dict)
        },
    }
