"""Each tenant's Ironclad record schema (`/records/metadata`) as last read: at connect, on an admin's
refresh, or by a write-back that found it missing."""

from __future__ import annotations

from typing import Any

from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import utcnow


class SchemaCache:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, tenant: str) -> Document | None:
        """`{tenant, metadata, fetched_at}`, or None if it was never read."""
        return await self._db.schema_cache.find_one({"tenant": tenant})

    async def metadata(self, tenant: str) -> dict[str, Any] | None:
        doc = await self.get(tenant)
        metadata = doc.get("metadata") if doc else None
        return metadata if isinstance(metadata, dict) else None

    async def store(self, tenant: str, metadata: dict[str, Any]) -> Document:
        doc = {"tenant": tenant, "metadata": metadata, "fetched_at": utcnow()}
        await self._db.schema_cache.replace_one({"tenant": tenant}, doc, upsert=True)
        return doc
