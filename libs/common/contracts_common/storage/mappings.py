"""Versioned field mappings: every PUT stores a new version; the highest version is current."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import utcnow


class MappingVersionConflict(Exception):
    pass


class Mappings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def current(self, tenant: str) -> Document | None:
        return await self._db.mappings.find_one({"tenant": tenant}, sort=[("version", -1)])

    async def save(self, tenant: str, rules: list[dict[str, Any]], *, suggested: bool = False) -> Document:
        """Store the next version; two concurrent PUTs cannot take the same version (unique index)."""
        for _ in range(5):
            current = await self.current(tenant)
            version = (current["version"] if current else 0) + 1
            doc = {
                "_id": f"{tenant}:{version}",
                "tenant": tenant,
                "version": version,
                "rules": rules,
                "suggested": suggested,
                "created_at": utcnow(),
            }
            try:
                await self._db.mappings.insert_one(doc)
            except DuplicateKeyError:
                continue
            return doc
        raise MappingVersionConflict("the mapping changed concurrently; try again")

    async def custom_fields(self, tenant: str) -> list[Document]:
        return [
            d async for d in self._db.custom_target_fields.find({"tenant": tenant}, {"_id": 0, "tenant": 0})
        ]

    async def replace_custom_fields(self, tenant: str, fields: list[dict[str, Any]]) -> None:
        """The tenant's custom target fields, all replaced by `fields`."""
        await self._db.custom_target_fields.delete_many({"tenant": tenant})
        if fields:
            await self._db.custom_target_fields.insert_many([{"tenant": tenant, **f} for f in fields])
