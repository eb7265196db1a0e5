"""Dead-lettered messages, kept where an operator can list, replay and discard them.

The one writer of the `dead_letters` collection. The importer's dead-letter keeper moves every message
of every `<queue>.dlq` here (importer/dead_letter_keeper.py): a queue can only be read by consuming it,
while a collection can be listed per queue and per tenant, counted for a tenant's health and paged.
A message is stored under a stable id (its AMQP message_id, else a hash of its body), so a message the
keeper sees twice (it died between the insert and the ack) is stored once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import DuplicateKeyError

from contracts_common.storage.database import Database
from contracts_common.timeutil import utcnow

CURSOR_PATTERN = r"^[0-9a-f]{24}$"

# Headers the dead-lettering added (ours and the broker's): a replayed message goes back without them,
# and without the quorum queue's delivery count, so its consumer gives it its full delivery limit again.
DEAD_LETTER_HEADERS = frozenset(
    {
        "x-death",
        "x-first-death-queue",
        "x-first-death-reason",
        "x-first-death-exchange",
        "x-last-death-queue",
        "x-last-death-reason",
        "x-last-death-exchange",
        "x-error-reason",
        "x-original-queue",
        "x-dead-lettered-by",
        "x-delivery-count",
    }
)
# Carried by a replayed message, so that a message dead-lettered again is known for how often it died
# and since when.
REPLAYS_HEADER = "x-replays"
FIRST_DEAD_LETTERED_HEADER = "x-first-dead-lettered-at"


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str
    queue: str = Field(description="the work queue the message came from (its full name)")
    tenant: str | None
    message_type: str | None
    reason: str
    dead_lettered_at: datetime = Field(description="when it was first dead-lettered")
    deaths: int = Field(description="how often it was dead-lettered, replays included")
    body: bytes
    headers: dict[str, Any]
    content_type: str | None = None


def message_id_of(message_id: str | None, body: bytes) -> str:
    return message_id or "sha256-" + hashlib.sha256(body).hexdigest()[:40]


def tenant_of(body: bytes) -> str | None:
    """Every message of ours carries `tenant` in its body; a body that is not one of ours has none."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    tenant = parsed.get("tenant") if isinstance(parsed, dict) else None
    return tenant if isinstance(tenant, str) else None


def reason_of(headers: dict[str, Any]) -> str:
    """Our consumers' reason (x-error-reason), else the broker's (x-death: delivery_limit, rejected...)."""
    if reason := headers.get("x-error-reason"):
        return str(reason)
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return f"dead-lettered by the broker: {deaths[0].get('reason', 'unknown')}"
    return "unknown"


def original_queue(headers: dict[str, Any], dead_letter_queue: str) -> str:
    if queue := headers.get("x-original-queue"):
        return str(queue)
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) and deaths[0].get("queue"):
        return str(deaths[0]["queue"])
    return dead_letter_queue.removesuffix(".dlq")


def _bson_safe(value: Any) -> Any:
    """AMQP header values as MongoDB stores them (bytes and tables included)."""
    if isinstance(value, dict):
        return {str(k): _bson_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bson_safe(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    if value is None or isinstance(value, str | int | float | bool | datetime):
        return value
    return str(value)


def replay_headers(letter: DeadLetter) -> dict[str, Any]:
    headers = {k: v for k, v in letter.headers.items() if k not in DEAD_LETTER_HEADERS}
    headers[REPLAYS_HEADER] = letter.deaths
    headers[FIRST_DEAD_LETTERED_HEADER] = letter.dead_lettered_at.isoformat()
    return headers


class DeadLetters:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def keep(
        self,
        *,
        dead_letter_queue: str,
        message_id: str | None,
        body: bytes,
        headers: dict[str, Any],
        content_type: str | None,
    ) -> tuple[DeadLetter, bool]:
        """Store a dead-lettered message; returns it and whether it was new (False: stored before)."""
        safe = _bson_safe(headers)
        first = safe.get(FIRST_DEAD_LETTERED_HEADER)
        try:
            first_at = datetime.fromisoformat(first) if isinstance(first, str) else utcnow()
        except ValueError:
            first_at = utcnow()
        replays = safe.get(REPLAYS_HEADER)
        letter = DeadLetter(
            id=message_id_of(message_id, body),
            queue=original_queue(safe, dead_letter_queue),
            tenant=tenant_of(body),
            message_type=str(safe["message_type"]) if safe.get("message_type") else None,
            reason=reason_of(safe)[:2000],
            dead_lettered_at=first_at,
            deaths=(replays if isinstance(replays, int) else 0) + 1,
            body=body,
            headers=safe,
            content_type=content_type,
        )
        doc = {"_id": letter.id, "order": ObjectId(), **letter.model_dump(exclude={"id"})}
        try:
            await self._db.dead_letters.insert_one(doc)
        except DuplicateKeyError:
            # Kept before: this very death seen twice (nothing to do), or a replay that died again before
            # the replay forgot the kept copy (a later death: it replaces the copy, see `forget`).
            result = await self._db.dead_letters.replace_one(
                {"_id": letter.id, "deaths": {"$lt": letter.deaths}}, doc
            )
            return letter, result.modified_count == 1
        return letter, True

    async def get(self, letter_id: str) -> DeadLetter | None:
        doc = await self._db.dead_letters.find_one({"_id": letter_id})
        return _letter(doc) if doc else None

    async def delete(self, letter_id: str) -> bool:
        result = await self._db.dead_letters.delete_one({"_id": letter_id})
        return result.deleted_count == 1

    async def forget(self, letter: DeadLetter) -> bool:
        """Delete the kept copy after its replay, unless the replayed message died again meanwhile (its
        later death, kept under the same id, stays)."""
        result = await self._db.dead_letters.delete_one({"_id": letter.id, "deaths": letter.deaths})
        return result.deleted_count == 1

    async def page(
        self, *, queue: str | None, tenant: str | None, limit: int, cursor: str | None
    ) -> tuple[list[DeadLetter], str | None]:
        """Newest first; `cursor` is the previous page's next_cursor."""
        query: dict[str, Any] = {}
        if queue is not None:
            query["queue"] = queue
        if tenant is not None:
            query["tenant"] = tenant
        if cursor is not None:
            query["order"] = {"$lt": ObjectId(cursor)}
        projection = {"body": 0}
        docs = [
            d async for d in self._db.dead_letters.find(query, projection).sort("order", -1).limit(limit + 1)
        ]
        more = len(docs) > limit
        docs = docs[:limit]
        return [_letter({**d, "body": b""}) for d in docs], (str(docs[-1]["order"]) if more else None)

    async def counts_by_queue(self, *, tenant: str | None = None) -> dict[str, int]:
        match: dict[str, Any] = {} if tenant is None else {"tenant": tenant}
        pipeline = [{"$match": match}, {"$group": {"_id": "$queue", "count": {"$sum": 1}}}]
        return {
            str(row["_id"]): int(row["count"])
            async for row in await self._db.dead_letters.aggregate(pipeline)
        }

    async def of_tenant(self, tenant: str) -> tuple[int, datetime | None]:
        """How many of the tenant's messages are dead-lettered, and since when (the oldest)."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"tenant": tenant}},
            {"$group": {"_id": None, "count": {"$sum": 1}, "since": {"$min": "$dead_lettered_at"}}},
        ]
        async for row in await self._db.dead_letters.aggregate(pipeline):
            return int(row["count"]), row["since"]
        return 0, None


def _letter(doc: dict[str, Any]) -> DeadLetter:
    return DeadLetter.model_validate({**doc, "id": doc["_id"]})
