"""The last health announced for each tenant: what a new computation is compared with.

The one writer of the `health_state` collection (one document per tenant, `_id` = tenant). A transition
is recorded with a compare-and-set on the previous state, so of two processes that notice the same change
at once exactly one records it, and so exactly one announces it.

A transition is recorded with its announcement (the `health.changed` payload) marked `announce_pending`,
cleared once the announcement is confirmed; a process that dies in between, or a broker that refuses it,
leaves the mark for the importer's sweep (`overdue`). At least once, never lost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pymongo.errors import DuplicateKeyError

from contracts_common.storage.database import Database
from contracts_common.timeutil import utcnow


class HealthState(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str
    reasons: list[str]
    changed_at: datetime
    # What was (or is still to be) announced of this transition, and whether that is confirmed yet.
    announcement: dict[str, Any] | None = None
    announce_pending: bool = False


class PendingAnnouncement(BaseModel):
    tenant: str
    changed_at: datetime
    announcement: dict[str, Any]


# What a tenant nobody has announced anything for is taken to be: a first computation that finds it
# healthy announces nothing.
UNANNOUNCED = HealthState(status="healthy", reasons=[], changed_at=datetime.min.replace(tzinfo=UTC))


class HealthStates:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, tenant: str) -> HealthState | None:
        doc = await self._db.health_state.find_one({"_id": tenant})
        return HealthState.model_validate(doc) if doc else None

    async def transition(
        self,
        tenant: str,
        previous: HealthState | None,
        status: str,
        reasons: list[str],
        *,
        changed_at: datetime | None = None,
        announcement: dict[str, Any] | None = None,
    ) -> HealthState | None:
        """Record `status`/`reasons` if the stored state is still `previous`; the new state, or None when
        another process recorded a transition first. With an `announcement`, it is marked pending."""
        new = HealthState(
            status=status,
            reasons=reasons,
            changed_at=changed_at or utcnow(),
            announcement=announcement,
            announce_pending=announcement is not None,
        )
        fields: dict[str, Any] = new.model_dump()
        if previous is None:
            try:
                await self._db.health_state.insert_one({"_id": tenant, **fields})
            except DuplicateKeyError:
                return None
            return new
        result = await self._db.health_state.update_one(
            {"_id": tenant, "status": previous.status, "reasons": previous.reasons}, {"$set": fields}
        )
        return new if result.modified_count == 1 else None

    async def announced(self, tenant: str, changed_at: datetime) -> None:
        """The announcement of the transition at `changed_at` is confirmed (a later one keeps its mark)."""
        await self._db.health_state.update_one(
            {"_id": tenant, "changed_at": changed_at}, {"$set": {"announce_pending": False}}
        )

    async def overdue(self, changed_before: datetime, limit: int = 100) -> list[PendingAnnouncement]:
        """Transitions recorded before `changed_before` whose announcement was never confirmed: one query
        on a partial index holding only those."""
        cursor = (
            self._db.health_state.find(
                {"announce_pending": True, "changed_at": {"$lt": changed_before}},
                {"changed_at": 1, "announcement": 1},
            )
            .sort("changed_at", 1)
            .limit(limit)
        )
        return [
            PendingAnnouncement(
                tenant=doc["_id"], changed_at=doc["changed_at"], announcement=doc["announcement"]
            )
            async for doc in cursor
        ]
