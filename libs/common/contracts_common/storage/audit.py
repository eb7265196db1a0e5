"""The audit trail: who did what to a workspace's connection, mapping, runs and write-backs, and when.

The one writer of the `audit` collection. Entries are recorded by the gateway's access wrapper from the
operation's declaration (an operation names its `AuditAction`), never by handlers. Details never hold a
secret: keys that name one are dropped and values that look like one are masked before storing.

Adding an action is one line in `AuditAction` and `audit=` on the operation that does it.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field

from contracts_common.storage.database import Database
from contracts_common.timeutil import utcnow

CURSOR_PATTERN = r"^[0-9a-f]{24}$"


class AuditAction(enum.StrEnum):
    CONNECTED = "connection.connected"
    RECONNECTED = "connection.reconnected"
    DISCONNECTED = "connection.disconnected"
    AUTOMATIC_SYNC_ENABLED = "automatic_sync.enabled"
    AUTOMATIC_SYNC_DISABLED = "automatic_sync.disabled"
    MAPPING_CHANGED = "mapping.changed"
    CUSTOM_FIELDS_CHANGED = "mapping.custom_fields_changed"
    IMPORT_STARTED = "import.started"
    RECONCILE_STARTED = "reconcile.started"
    WRITEBACK_CREATE_RECORD = "writeback.create_record"
    WRITEBACK_UPDATE_RECORD = "writeback.update_record"
    WRITEBACK_UPLOAD_DOCUMENT = "writeback.upload_document"
    NOTIFICATIONS_CHANGED = "notifications.changed"
    DEAD_LETTER_REPLAYED = "dead_letter.replayed"
    DEAD_LETTER_DISCARDED = "dead_letter.discarded"
    # The importer switched off an endpoint that kept failing (actor: system).
    NOTIFICATIONS_DISABLED = "notifications.disabled"


class AuditActor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # system: done by the service itself, not on anyone's request (e.g. a failing endpoint disabled).
    kind: Literal["platform", "user", "system"]
    sub: str | None = Field(default=None, description="the user (a tenant token's sub)")
    role: Literal["admin", "viewer"] | None = None


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str
    at: datetime
    actor: AuditActor
    action: AuditAction
    details: dict[str, Any] = Field(default_factory=dict)


# Keys whose values are never stored, and values that look like credentials whatever their key.
_SECRET_KEYS = re.compile(r"secret|password|token|authorization|credential|private", re.I)
_SECRET_VALUES = re.compile(r"^(whsec_|Bearer\s)|^eyJ[\w-]+\.[\w-]+\.")


def without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if not _SECRET_KEYS.search(str(k))}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUES.search(value):
        return "[redacted]"
    return value


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, tenant: str, actor: AuditActor, action: AuditAction, details: dict[str, Any] | None = None
    ) -> AuditEntry:
        entry = AuditEntry(
            tenant=tenant, at=utcnow(), actor=actor, action=action, details=without_secrets(details or {})
        )
        await self._db.audit.insert_one({"_id": ObjectId(), **entry.model_dump(mode="python")})
        return entry

    async def page(
        self, tenant: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[AuditEntry], str | None]:
        """Newest first; `cursor` is the previous page's next_cursor (the last entry's id)."""
        query: dict[str, Any] = {"tenant": tenant}
        if cursor is not None:
            query["_id"] = {"$lt": ObjectId(cursor)}
        docs = [d async for d in self._db.audit.find(query).sort("_id", -1).limit(limit + 1)]
        more = len(docs) > limit
        docs = docs[:limit]
        entries = [AuditEntry.model_validate({k: v for k, v in d.items() if k != "_id"}) for d in docs]
        return entries, (str(docs[-1]["_id"]) if more else None)
