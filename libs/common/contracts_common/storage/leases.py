"""Time-bound leases in MongoDB: one holder per (tenant, name) across all replicas; the project's one
lease mechanism.

A holder that dies simply lets its lease expire. Two uses:
- a replica holds a lease for the length of a change (`acquire` ... `release`: Automatic Sync's
  enable/disable);
- a run holds one for as long as it is active (the tenant's one reconciliation at a time): the
  lease names the run, and whoever finds that run ended takes the lease over by compare-and-set on
  what it read (`current`, then `acquire(..., replacing=lease)`), so two starters cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from contracts_common.storage.database import Database
from contracts_common.timeutil import utcnow


@dataclass(frozen=True, slots=True)
class Lease:
    owner: str
    expires_at: datetime

    def live(self, now: datetime | None = None) -> bool:
        return self.expires_at > (now or utcnow())


class Leases:
    def __init__(self, db: Database, owner: str = "") -> None:
        self._db = db
        self.owner = owner

    async def current(self, tenant: str, name: str) -> Lease | None:
        row = await self._db.leases.find_one({"tenant": tenant, "name": name})
        if row is None:
            return None
        # Rows written before leases had owners named the run holding them as `run_id`.
        return Lease(owner=str(row.get("owner") or row.get("run_id") or ""), expires_at=row["expires_at"])

    async def acquire(
        self,
        tenant: str,
        name: str,
        ttl_seconds: float,
        *,
        owner: str | None = None,
        replacing: Lease | None = None,
    ) -> bool:
        """Take the lease if it is free, expired or already ours; with `replacing`, take it only if it
        is still exactly the lease that was read (its holder was found gone)."""
        owner = owner or self.owner
        now = utcnow()
        row = {"owner": owner, "expires_at": now + timedelta(seconds=ttl_seconds), "acquired_at": now}
        if replacing is not None:
            result = await self._db.leases.update_one(
                {"tenant": tenant, "name": name, "expires_at": replacing.expires_at}, {"$set": row}
            )
            return result.modified_count == 1
        try:
            result = await self._db.leases.update_one(
                {"tenant": tenant, "name": name, "$or": [{"expires_at": {"$lt": now}}, {"owner": owner}]},
                {"$set": row},
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # held by someone else and not expired
        return result.upserted_id is not None or result.matched_count == 1

    async def release(self, tenant: str, name: str) -> None:
        await self._db.leases.delete_one({"tenant": tenant, "name": name, "owner": self.owner})
