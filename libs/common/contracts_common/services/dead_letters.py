"""Replaying and discarding kept dead letters (the operator's dead-letter API).

Replaying is safe because every consumer is idempotent (each slot of a run counted once, each record
stored at its newest version): a message replayed twice, or replayed after a copy got through, changes
nothing the first did not. So a replay publishes first (confirmed) and forgets the kept copy after; a
crash in between replays it once more at worst, never loses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from contracts_common.messaging import Broker
from contracts_common.storage.audit import AuditAction, AuditActor, AuditLog
from contracts_common.storage.database import Database
from contracts_common.storage.dead_letters import DeadLetter, DeadLetters, replay_headers
from contracts_common.timeutil import iso, utcnow

log = structlog.get_logger(__name__)


@dataclass
class DeadLetterService:
    db: Database
    broker: Broker

    @property
    def store(self) -> DeadLetters:
        return DeadLetters(self.db)

    async def listing(
        self, *, queue: str | None, tenant: str | None, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        letters, next_cursor = await self.store.page(queue=queue, tenant=tenant, limit=limit, cursor=cursor)
        counts = await self.store.counts_by_queue(tenant=tenant)
        now = utcnow()
        return {
            "queues": [{"queue": name, "count": count} for name, count in sorted(counts.items())],
            "items": [
                {
                    "id": letter.id,
                    "queue": letter.queue,
                    "tenant": letter.tenant,
                    "message_type": letter.message_type,
                    "reason": letter.reason,
                    "dead_lettered_at": iso(letter.dead_lettered_at),
                    "age_seconds": round(max(0.0, (now - letter.dead_lettered_at).total_seconds()), 3),
                    "deaths": letter.deaths,
                }
                for letter in letters
            ],
            "next_cursor": next_cursor,
        }

    async def replay(self, letter_id: str, actor: AuditActor) -> DeadLetter | None:
        """Publish the kept message back to its queue, then forget it; None if it is not kept."""
        letter = await self.store.get(letter_id)
        if letter is None:
            return None
        await self.broker.republish(
            letter.queue,
            letter.body,
            headers=replay_headers(letter),
            message_id=letter.id,
            content_type=letter.content_type,
        )
        await self.store.forget(letter)
        log.info("dead_letter_replayed", dead_letter=letter.id, queue=letter.queue, tenant=letter.tenant)
        await self._audit(letter, actor, AuditAction.DEAD_LETTER_REPLAYED)
        return letter

    async def discard(self, letter_id: str, actor: AuditActor) -> DeadLetter | None:
        letter = await self.store.get(letter_id)
        if letter is None or not await self.store.delete(letter.id):
            return None
        log.warning("dead_letter_discarded", dead_letter=letter.id, queue=letter.queue, tenant=letter.tenant)
        await self._audit(letter, actor, AuditAction.DEAD_LETTER_DISCARDED)
        return letter

    async def _audit(self, letter: DeadLetter, actor: AuditActor, action: AuditAction) -> None:
        # The tenant whose message it was sees it in its own audit trail; a message of no tenant (a body
        # that is not ours) is only logged.
        if letter.tenant is None:
            return
        details = {"id": letter.id, "queue": letter.queue, "message_type": letter.message_type}
        await AuditLog(self.db).record(letter.tenant, actor, action, details)
