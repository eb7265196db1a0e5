"""Time-bound leases in MongoDB: one holder per (tenant, name) across all replicas.

Used for "one reconciliation per tenant at a time" and for the schedulers, so N importer replicas do
not all start the same periodic work. A holder that dies simply lets its lease expire.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo.errors import DuplicateKeyError

from contracts_common.storage.database import Database
from contracts_common.timeutil import utcnow


class Leases:
    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self.owner = owner

    async def acquire(self, tenant: str, name: str, ttl_seconds: float) -> bool:
        now = utcnow()
        expires = now + timedelta(seconds=ttl_seconds)
        try:
            result = await self._db.leases.update_one(
                {
                    "tenant": tenant,
                    "name": name,
                    "$or": [{"expires_at": {"$lt": now}}, {"owner": self.owner}],
                },
                {"$set": {"owner": self.owner, "expires_at": expires, "acquired_at": now}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # held by someone else and not expired
        return result.upserted_id is not None or result.matched_count == 1

    async def release(self, tenant: str, name: str) -> None:
        await self._db.leases.delete_one({"tenant": tenant, "name": name, "owner": self.owner})
