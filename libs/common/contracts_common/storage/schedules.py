"""When each tenant's periodic work is next due, and which replica takes each turn.

The schedule lives on the tenant's connection (`schedule.<task>.{last_at, due_at, by}`), so the admin
API shows it and the scheduler needs no extra read: it already reads the connections it walks.
A turn is taken by compare-and-set on `last_at`: of all the replicas that see a task due, exactly one
moves `last_at` and runs it; the others see their write match nothing. The turn is not renewed by its
holder: the next one is due a whole interval later, whoever takes it. A tenant's first turn is due one
interval after it connected (connecting already offers an import).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from contracts_common.metrics import SCHEDULED_TURNS
from contracts_common.storage.database import Database, Document
from contracts_common.timeutil import utcnow


def _entry(connection: Document, task: str) -> dict[str, Any]:
    return dict((connection.get("schedule") or {}).get(task) or {})


def due_at(connection: Document, task: str, interval_seconds: float) -> datetime:
    """The next due time: one interval after the last turn, or after connecting if there was none.

    Computed from `last_at` rather than read from `due_at`, so a change of interval (a webhook going
    down shortens the reconciliation interval) applies at once.
    """
    last = _entry(connection, task).get("last_at")
    anchor: datetime = last or connection.get("connected_at") or utcnow()
    return anchor + timedelta(seconds=interval_seconds)


class Schedules:
    def __init__(self, db: Database, owner: str) -> None:
        self._db = db
        self._owner = owner

    async def claim(
        self, connection: Document, task: str, interval_seconds: float, *, now: datetime | None = None
    ) -> bool:
        """Take this turn of `task` for the connection's tenant if it is due; True for one replica only."""
        now = now or utcnow()
        entry = _entry(connection, task)
        due = due_at(connection, task, interval_seconds)
        if now < due:
            if entry.get("due_at") is None:
                # Make the first due time visible before it arrives; whoever writes it first is fine.
                await self._db.connections.update_one(
                    {"tenant": connection["tenant"], f"schedule.{task}.due_at": None},
                    {"$set": {f"schedule.{task}.due_at": due}},
                )
            return False
        result = await self._db.connections.update_one(
            {
                "tenant": connection["tenant"],
                "status": "connected",
                # Matches a missing field too: the first turn is claimed the same way.
                f"schedule.{task}.last_at": entry.get("last_at"),
            },
            {
                "$set": {
                    f"schedule.{task}.last_at": now,
                    f"schedule.{task}.due_at": now + timedelta(seconds=interval_seconds),
                    f"schedule.{task}.by": self._owner,
                }
            },
        )
        if result.modified_count != 1:
            return False
        SCHEDULED_TURNS.labels(task=task).inc()
        return True
