"""Notification endpoints (`notification_endpoints`) and every delivery attempt (`notification_deliveries`):
this module is the only writer of both.

An endpoint is one per tenant: where its notifications go, which events it wants, whether it is on, and
its Standard Webhooks secret, encrypted at rest with SECRETS_KEY (crypto.SecretBox) and shown to the
admin once. `failing_since` is the first failed attempt after the last success; an endpoint failing for
NOTIFICATION_DISABLE_AFTER_SECONDS is switched off with the reason (`disable_if_failing`).

A delivery row is one attempt: `(tenant, notification_id, attempt)` is unique, so a redelivered message
writes its row again rather than a second one. Rows expire after DELIVERY_RETENTION (their TTL index).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ReturnDocument

from contracts_common.crypto import SecretBox
from contracts_common.storage.database import Database
from contracts_common.timeutil import utcnow

DELIVERY_RETENTION = timedelta(days=30)
CURSOR_PATTERN = r"^[0-9a-f]{24}$"

DeliveryStatus = Literal["delivered", "pending", "failed"]


class NotificationEndpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tenant: str
    url: str
    events: list[str]
    enabled: bool
    encrypted_secret: str
    created_at: datetime
    updated_at: datetime
    secret_created_at: datetime
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    disabled_at: datetime | None = None
    disabled_reason: str | None = None


class DeliveryAttempt(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tenant: str
    notification_id: str
    type: str
    attempt: int = Field(ge=1)
    at: datetime
    url: str
    status: DeliveryStatus
    status_code: int | None = None
    error: str | None = None
    next_retry_at: datetime | None = None
    duration_ms: float | None = None


class NotificationEndpoints:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def get(self, tenant: str) -> NotificationEndpoint | None:
        doc = await self._db.notification_endpoints.find_one({"tenant": tenant})
        return None if doc is None else NotificationEndpoint.model_validate(doc)

    def secret(self, endpoint: NotificationEndpoint) -> str:
        return self._box.decrypt(endpoint.encrypted_secret)

    async def save(
        self, tenant: str, *, url: str, events: list[str], enabled: bool, new_secret: str | None
    ) -> NotificationEndpoint:
        """Create or change the tenant's endpoint. `new_secret` is required when there is none yet (the
        caller knows: it read the endpoint first). Turning it on again forgets why it was turned off."""
        now = utcnow()
        fields: dict[str, Any] = {"url": url, "events": events, "enabled": enabled, "updated_at": now}
        if new_secret is not None:
            fields |= {"encrypted_secret": self._box.encrypt(new_secret), "secret_created_at": now}
        if enabled:
            fields |= {"disabled_at": None, "disabled_reason": None, "failing_since": None}
        doc = await self._db.notification_endpoints.find_one_and_update(
            {"tenant": tenant},
            {"$set": fields, "$setOnInsert": {"tenant": tenant, "created_at": now}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return NotificationEndpoint.model_validate(doc)

    async def delivered(self, tenant: str, at: datetime) -> None:
        await self._db.notification_endpoints.update_one(
            {"tenant": tenant}, {"$set": {"failing_since": None, "last_success_at": at}}
        )

    async def failed(self, tenant: str, at: datetime) -> NotificationEndpoint | None:
        """Note a failed attempt; returns the endpoint with `failing_since` (kept from the first failure)."""
        await self._db.notification_endpoints.update_one(
            {"tenant": tenant, "failing_since": None}, {"$set": {"failing_since": at}}
        )
        doc = await self._db.notification_endpoints.find_one_and_update(
            {"tenant": tenant}, {"$set": {"last_failure_at": at}}, return_document=ReturnDocument.AFTER
        )
        return None if doc is None else NotificationEndpoint.model_validate(doc)

    async def disable_if_failing(self, tenant: str, *, failing_before: datetime, reason: str) -> bool:
        """Turn the endpoint off if it has failed without a success since `failing_before`; True for the
        one call that did it (whoever else sees the same failure finds it off already)."""
        now = utcnow()
        result = await self._db.notification_endpoints.update_one(
            {"tenant": tenant, "enabled": True, "failing_since": {"$lte": failing_before}},
            {"$set": {"enabled": False, "disabled_at": now, "disabled_reason": reason, "updated_at": now}},
        )
        return result.modified_count == 1


class NotificationDeliveries:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, attempt: DeliveryAttempt) -> None:
        row = attempt.model_dump(mode="python")
        row["expires_at"] = attempt.at + DELIVERY_RETENTION
        key = {
            "tenant": attempt.tenant,
            "notification_id": attempt.notification_id,
            "attempt": attempt.attempt,
        }
        await self._db.notification_deliveries.update_one(
            key, {"$set": row, "$setOnInsert": {"_id": ObjectId()}}, upsert=True
        )

    async def page(
        self, tenant: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[tuple[str, DeliveryAttempt]], str | None]:
        """Newest first as (row id, attempt); `cursor` is the previous page's next_cursor."""
        query: dict[str, Any] = {"tenant": tenant}
        if cursor is not None:
            query["_id"] = {"$lt": ObjectId(cursor)}
        docs = [
            d async for d in self._db.notification_deliveries.find(query).sort("_id", -1).limit(limit + 1)
        ]
        more = len(docs) > limit
        docs = docs[:limit]
        rows = [(str(d["_id"]), DeliveryAttempt.model_validate(d)) for d in docs]
        return rows, (str(docs[-1]["_id"]) if more else None)
